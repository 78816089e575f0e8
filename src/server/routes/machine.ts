import { Hono } from 'hono';
import { machineDefinition, mermaidDiagram } from '../../machine/diagram.ts';

/** GET /machine (the statechart's config as JSON) and GET /machine.mmd (a Mermaid state diagram); mount at '/'. */
export function machineRoutes(): Hono {
  const routes = new Hono();
  // The machine is fixed for the life of the process: render both views once.
  const definition = machineDefinition();
  const diagram = mermaidDiagram();
  routes.get('/machine', (c) => c.json(definition));
  routes.get('/machine.mmd', (c) => c.text(diagram, 200, { 'content-type': 'text/plain; charset=utf-8' }));
  return routes;
}
