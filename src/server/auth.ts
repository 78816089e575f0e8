import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { ApiKey, Role } from './config.ts';
import { ApiError } from './errors.ts';

const RANK: Record<Role, number> = { read: 0, write: 1, admin: 2 };

/** Paths anyone may read: health probes and the API description. */
const PUBLIC = [/^\/healthz$/, /^\/openapi\.json$/, /^\/docs(\/.*)?$/];

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The role a request needs: reads need read, everything that changes state needs write. */
function requiredRole(method: string): Role {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'read' : 'write';
}

/**
 * Bearer-token auth. Tokens are compared as SHA-256 digests with timingSafeEqual, against every
 * key without stopping early, so timing tells nothing about which key or how much matched.
 */
export function apiKeyAuth(keys: ApiKey[]): MiddlewareHandler<{ Variables: { principal: string | null } }> {
  const digests = keys.map((k) => ({ key: k, digest: digest(k.token) }));
  return async (c, next) => {
    if (keys.length === 0 || PUBLIC.some((p) => p.test(c.req.path))) {
      c.set('principal', null);
      return next();
    }
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new ApiError(401, 'UNAUTHORIZED', 'This service needs an API key: send Authorization: Bearer <token>.');
    }
    const given = digest(match[1]!);
    let found: ApiKey | null = null;
    for (const { key, digest: d } of digests) {
      if (timingSafeEqual(d, given) && !found) found = key;
    }
    if (!found) throw new ApiError(401, 'UNAUTHORIZED', 'The API key is not valid. Check the token, or ask an admin for a key.');
    const needed = requiredRole(c.req.method);
    if (RANK[found.role] < RANK[needed]) {
      throw new ApiError(403, 'FORBIDDEN', `The key "${found.name}" has role ${found.role}; ${c.req.method} ${c.req.path} needs ${needed}.`);
    }
    c.set('principal', found.name);
    return next();
  };
}
