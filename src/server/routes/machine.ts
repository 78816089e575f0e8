import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { machineDefinition, mermaidDiagram } from '../../machine/diagram.ts';
import type { AppEnv } from '../context.ts';
import { apiRoutes, body, correlationHeaders, errors, json } from '../openapi.ts';
import { machineSchema } from '../responses.ts';

const getMachine = createRoute({
  method: 'get',
  path: '/machine',
  operationId: 'getMachine',
  tags: ['operations'],
  summary: 'The statechart config as JSON, for Stately Studio and other visualisers',
  request: { headers: correlationHeaders },
  responses: { 200: json(machineSchema, 'The machine config'), ...errors(401, 403) },
});

const getMachineDiagram = createRoute({
  method: 'get',
  path: '/machine.mmd',
  operationId: 'getMachineDiagram',
  tags: ['operations'],
  summary: 'The statechart as a Mermaid stateDiagram-v2',
  request: { headers: correlationHeaders },
  responses: { 200: body('text/plain', 'Mermaid text'), ...errors(401, 403) },
});

/** GET /machine (the statechart's config as JSON) and GET /machine.mmd (a Mermaid state diagram); mount at '/'. */
export function machineRoutes(): OpenAPIHono<AppEnv> {
  const routes = apiRoutes();
  // The machine is fixed for the life of the process: render both views once.
  const definition = machineDefinition();
  const diagram = mermaidDiagram();
  routes.openapi(getMachine, (c) => c.json(definition, 200));
  routes.openapi(getMachineDiagram, (c) => c.text(diagram, 200, { 'content-type': 'text/plain; charset=utf-8' }));
  return routes;
}
