import { describe, expect, it } from 'vitest';
import { machineDefinition, mermaidDiagram } from '../../../src/machine/diagram.ts';
import { machineRoutes } from '../../../src/server/routes/machine.ts';

describe('machine routes', () => {
  const app = machineRoutes();

  it('serves the machine definition as JSON at GET /machine', async () => {
    const res = await app.request('/machine');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual(machineDefinition());
  });

  it('serves the Mermaid diagram as UTF-8 text at GET /machine.mmd', async () => {
    const res = await app.request('/machine.mmd');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe(mermaidDiagram());
  });
});
