import type { Phase } from './table.ts';

/** How one step phase is retried. */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 means a single attempt. */
  retries: number;
  initialDelayMs: number;
  /** Each further delay is the previous one times this factor. */
  factor: number;
  maxDelayMs: number;
  /** Full jitter: the delay is drawn uniformly from [0, computed delay]. */
  jitter: boolean;
  /** An attempt running longer than this is aborted and counts as a retryable timeout. */
  timeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  retries: 3,
  initialDelayMs: 1_000,
  factor: 2,
  maxDelayMs: 30_000,
  jitter: false,
  timeoutMs: 300_000,
});

export type RetryPolicyPatch = Partial<RetryPolicy>;

/** Per-workflow retry options: a workflow-wide patch plus per-phase patches. */
export interface RetryOptions extends RetryPolicyPatch {
  phases?: Partial<Record<Phase, RetryPolicyPatch>>;
}

/** The effective policy of one phase: defaults, then the workflow patch, then the phase patch. */
export function resolvePolicy(options: RetryOptions | undefined, phase: Phase): RetryPolicy {
  const { phases, ...workflowPatch } = options ?? {};
  return { ...DEFAULT_RETRY_POLICY, ...workflowPatch, ...(phases?.[phase] ?? {}) };
}

/** Delay before retry number `retry` (1-based). `random` in [0,1) is used only with jitter. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: number = Math.random()): number {
  const exponential = policy.initialDelayMs * policy.factor ** Math.max(0, retry - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  return Math.round(policy.jitter ? capped * random : capped);
}
