import type { SnapshotFrom, StateValue } from 'xstate';
import type { WorkflowContext, WorkflowMachine } from '../machine/machine.ts';
import { COMPLETION_FLAGS, type CompletionFlag, type TopPhase } from '../machine/table.ts';

export type WorkflowSnapshot = SnapshotFrom<WorkflowMachine>;

export const STATUSES = ['pending', 'running', 'backoff', 'awaiting_review', 'retrying', 'failed', 'completed', 'needs_migration'] as const;
export type WorkflowStatus = (typeof STATUSES)[number];

/** The top-level phase of a state value: the key of a compound value, or the value itself. */
export function phaseOf(value: StateValue): TopPhase {
  return (typeof value === 'string' ? value : Object.keys(value)[0]) as TopPhase;
}

export function statusOf(value: StateValue): WorkflowStatus {
  if (typeof value === 'string') {
    if (value === 'pending' || value === 'failed' || value === 'completed' || value === 'retrying') return value;
    return 'running';
  }
  const sub = Object.values(value)[0];
  if (sub === 'backoff') return 'backoff';
  if (sub === 'review') return 'awaiting_review';
  return 'running';
}

/**
 * The events each status accepts, for clients deciding which actions to offer. The machine is the
 * authority (a test checks this table against `snapshot.can`); RETRY may still be refused when a
 * partial restart lacks inputs.
 */
export const ACCEPTED_EVENTS: Readonly<Record<WorkflowStatus, readonly string[]>> = {
  pending: ['START', 'CANCEL'],
  running: ['CANCEL'],
  backoff: ['CANCEL'],
  awaiting_review: ['APPROVE_MAPPINGS', 'CANCEL'],
  retrying: [],
  failed: ['RETRY'],
  completed: [],
  needs_migration: [],
};

export interface WorkflowView {
  id: string;
  name: string;
  phase: TopPhase;
  status: WorkflowStatus;
  value: StateValue;
  accepted: readonly string[];
  flags: Record<CompletionFlag, boolean>;
  attempts: WorkflowContext['attempts'];
  errors: WorkflowContext['errors'];
  review: WorkflowContext['review'];
  wakeAt: string | null;
  context: WorkflowContext['outputs'];
  options: WorkflowContext['options'];
  version: number;
  correlationId: string | null;
  createdAt: string;
  updatedAt: string;
  raw?: unknown;
}

export interface ViewMeta {
  version: number;
  correlationId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The API's view of a workflow: the phase outputs under the seed's names, never the raw rows. */
export function toView(value: StateValue, context: WorkflowContext, meta: ViewMeta): WorkflowView {
  return {
    id: context.workflowId,
    name: context.name,
    phase: phaseOf(value),
    status: statusOf(value),
    value,
    accepted: ACCEPTED_EVENTS[statusOf(value)],
    flags: Object.fromEntries(COMPLETION_FLAGS.map((f) => [f, context.flags[f]])) as Record<CompletionFlag, boolean>,
    attempts: context.attempts,
    errors: context.errors,
    review: context.review,
    wakeAt: context.wakeAt === null ? null : new Date(context.wakeAt).toISOString(),
    context: context.outputs,
    options: context.options,
    version: meta.version,
    correlationId: meta.correlationId,
    createdAt: meta.createdAt.toISOString(),
    updatedAt: meta.updatedAt.toISOString(),
  };
}
