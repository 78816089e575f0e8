import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import type { WorkflowStore } from '../db/store.ts';
import type { WorkflowEngine } from '../engine/engine.ts';
import type { Logger } from '../engine/logger.ts';
import { ApiError, errorResponse, invalidRequest } from './errors.ts';
import { workflowRoutes } from './routes/workflows.ts';

export interface AppDeps {
  engine: WorkflowEngine;
  store: WorkflowStore;
  logger: Logger;
  maxUploadBytes: number;
}

export type AppEnv = { Variables: { correlationId: string } };

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Parses `input` with `schema` or throws a 400 naming the field and the problem. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw invalidRequest(result.error, where);
  return result.data;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const given = c.req.header('x-correlation-id');
    const id = given && CORRELATION_ID.test(given) ? given : randomUUID();
    c.set('correlationId', id);
    c.header('X-Correlation-Id', id);
    await next();
  });

  // Base64 inflates uploads by a third; leave room for the JSON around them.
  const maxBody = Math.ceil(deps.maxUploadBytes * 1.4) + 1024 * 1024;
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBody,
      onError: () => {
        throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `The request body is larger than the ${Math.round(deps.maxUploadBytes / 1048576)} MB upload limit (MAX_UPLOAD_MB).`, {
          limitBytes: deps.maxUploadBytes,
        });
      },
    }),
  );

  app.get('/healthz', async (c) => {
    try {
      await deps.store.ping();
      return c.json({ status: 'ok', database: 'reachable', liveWorkflows: deps.engine.liveCount });
    } catch {
      return c.json({ status: 'unavailable', database: 'unreachable' }, 503);
    }
  });

  app.route('/workflows', workflowRoutes(deps));

  app.notFound((c: Context) => c.json({ code: 'NOT_FOUND', message: `No route for ${c.req.method} ${c.req.path}.` }, 404));
  app.onError((error, c) => errorResponse(error, c, deps.logger));
  return app;
}
