import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, backoffDelay, resolvePolicy } from '../../src/machine/policy.ts';

describe('retry policy', () => {
  it('defaults to 3 retries, 1 s initial delay, factor 2, no jitter', () => {
    expect(DEFAULT_RETRY_POLICY).toMatchObject({ retries: 3, initialDelayMs: 1_000, factor: 2, jitter: false });
  });

  it('applies the workflow patch, then the phase patch', () => {
    const options = { retries: 5, initialDelayMs: 10, phases: { field_mapping: { retries: 0 } } };
    expect(resolvePolicy(options, 'data_validation')).toMatchObject({ retries: 5, initialDelayMs: 10, factor: 2 });
    expect(resolvePolicy(options, 'field_mapping')).toMatchObject({ retries: 0, initialDelayMs: 10 });
    expect(resolvePolicy(undefined, 'field_mapping')).toEqual(DEFAULT_RETRY_POLICY);
  });

  it('grows delays exponentially up to the cap', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxDelayMs: 5_000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });

  it('draws full jitter uniformly below the computed delay', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, jitter: true };
    expect(backoffDelay(policy, 2, 0)).toBe(0);
    expect(backoffDelay(policy, 2, 0.25)).toBe(500);
    expect(backoffDelay(policy, 2, 0.999)).toBeLessThan(2_000);
  });
});
