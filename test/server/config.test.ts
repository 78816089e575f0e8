import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.ts';

describe('loadConfig: mapping review thresholds', () => {
  it('defaults to confidence 0.7 and a quarantined share of 0.5, and names a bad value', () => {
    expect(loadConfig({}).review).toEqual({ confidence: 0.7, quarantineShare: 0.5 });
    expect(loadConfig({ MAPPING_REVIEW_CONFIDENCE: '0.8', QUARANTINE_REVIEW_SHARE: '0.25' }).review).toEqual({ confidence: 0.8, quarantineShare: 0.25 });
    expect(() => loadConfig({ QUARANTINE_REVIEW_SHARE: '50%' })).toThrow(/QUARANTINE_REVIEW_SHARE/);
    expect(() => loadConfig({ MAPPING_REVIEW_CONFIDENCE: '2' })).toThrow(/MAPPING_REVIEW_CONFIDENCE/);
  });
});

describe('loadConfig: step workers', () => {
  it('defaults to every core but one (at least one), takes 0 for the main thread, and names a bad value', () => {
    expect(loadConfig({}).stepWorkers).toBe(Math.max(1, availableParallelism() - 1));
    expect(loadConfig({ STEP_WORKERS: '0' }).stepWorkers).toBe(0);
    expect(loadConfig({ STEP_WORKERS: '3' }).stepWorkers).toBe(3);
    expect(() => loadConfig({ STEP_WORKERS: '-1' })).toThrow(/STEP_WORKERS/);
    expect(() => loadConfig({ STEP_WORKERS: 'many' })).toThrow(/STEP_WORKERS/);
    expect(loadConfig({}).stepWorkerMaxMb).toBeUndefined();
    expect(loadConfig({ STEP_WORKER_MAX_MB: '1536' }).stepWorkerMaxMb).toBe(1536);
    expect(() => loadConfig({ STEP_WORKER_MAX_MB: '8' })).toThrow(/STEP_WORKER_MAX_MB/);
  });
});
