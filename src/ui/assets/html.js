// Preact + htm: JSX-like templates without a build step.
import { h, render, Fragment } from '/ui/vendor/preact.mjs';
import htm from '/ui/vendor/htm.mjs';

export const html = htm.bind(h);
export { render, Fragment };
export { useState, useEffect, useMemo, useRef, useCallback, useLayoutEffect } from '/ui/vendor/preact-hooks.mjs';
