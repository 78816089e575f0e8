import { auth } from './api.js';
import { useEffect, useState } from './html.js';

/** The current time, refreshed every `ms`: relative ages and countdowns stay right. */
export function useNow(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function useReadOnly() {
  const [readOnly, setReadOnly] = useState(auth.readOnly);
  useEffect(() => auth.subscribe(() => setReadOnly(auth.readOnly)), []);
  return readOnly;
}
