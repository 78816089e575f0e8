import { RETRY_AFTER_SECONDS } from './errors.ts';

/**
 * What the server answers before its database is open: the port is open at once after a start
 * (after kill -9 PGlite may take many seconds to recover), and clients learn when to come back.
 */
export function startingResponse(request: Request): Response {
  const health = new URL(request.url).pathname === '/healthz';
  const body = health
    ? { status: 'starting', database: 'opening', message: 'The service is opening its database; it answers shortly.' }
    : { code: 'STARTING', message: 'The service is starting (opening its database); retry shortly.' };
  return Response.json(body, { status: 503, headers: { 'Retry-After': RETRY_AFTER_SECONDS } });
}
