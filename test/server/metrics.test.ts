import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { STEP_PHASES, TOP_PHASES } from '../../src/machine/table.ts';
import { ServiceMetrics } from '../../src/server/metrics.ts';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

/** Runs `promtool check metrics` on the text; resolves with its complaints (empty when it passes). */
async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL!, ['check', 'metrics'], (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin!.end(text);
  });
}

describe('metrics', () => {
  it('has every series a user alerts on at 0 from the first scrape', async () => {
    const metrics = new ServiceMetrics(() => new Map());
    const { body } = await metrics.render();
    for (const status of ['started', 'completed', 'failed']) {
      expect(body).toContain(`discovery_workflows_total{status="${status}"} 0`);
    }
    for (const phase of STEP_PHASES) {
      expect(body).toContain(`discovery_step_attempts_total{phase="${phase}"} 0`);
      expect(body).toContain(`discovery_step_retries_total{phase="${phase}"} 0`);
      expect(body).toContain(`discovery_step_failures_total{phase="${phase}"} 0`);
      for (const outcome of ['succeeded', 'failed', 'timed_out']) {
        expect(body).toContain(`discovery_step_duration_seconds_count{phase="${phase}",outcome="${outcome}"} 0`);
      }
    }
    for (const phase of TOP_PHASES) expect(body).toContain(`discovery_workflows_active{phase="${phase}"} 0`);
  });

  it('keeps the active gauge at 0 for phases that emptied and counts the live ones', async () => {
    let live = new Map([['field_mapping' as const, 2]]);
    const metrics = new ServiceMetrics(() => live);
    expect((await metrics.render()).body).toContain('discovery_workflows_active{phase="field_mapping"} 2');
    live = new Map();
    const { body } = await metrics.render();
    expect(body).toContain('discovery_workflows_active{phase="field_mapping"} 0');
    expect(body).toContain('discovery_workflows_active{phase="pending"} 0');
  });

  it('drops the default gauges whose names end in _total (promtool refuses them)', async () => {
    const { body } = await new ServiceMetrics(() => new Map()).render();
    expect(body).not.toMatch(/^nodejs_active_\w+_total/m);
    expect(body).toContain('nodejs_active_handles');
    expect(body).toContain('process_cpu_user_seconds_total');
  });

  it.skipIf(!PROMTOOL)('passes promtool check metrics', async () => {
    const metrics = new ServiceMetrics(() => new Map([['data_validation' as const, 1]]));
    metrics.onAttempt('data_validation', 'failed', 0.2);
    metrics.httpDuration.observe({ method: 'GET', route: '/workflows/:id', status: '200' }, 0.01);
    const { body } = await metrics.render();
    const result = await promtoolCheck(body);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });
});
