import type { AnyStateNode, SnapshotFrom, StateValue } from 'xstate';
import { STEP_OUTCOMES, type WorkflowRow } from '../db/schema.ts';
import { traceIdOf } from './tracing.ts';
import { ASSET_TYPES, CANONICAL_FIELDS } from '../handlers/types.ts';
import { EVENT_TYPES, workflowMachine, type WorkflowContext, type WorkflowMachine } from '../machine/machine.ts';
import { COMPLETION_FLAGS, STATUSES, STEP_PHASES, TERMINAL_STATUSES, TOP_PHASES, type CompletionFlag, type TopPhase, type WorkflowStatus } from '../machine/table.ts';

export type WorkflowSnapshot = SnapshotFrom<WorkflowMachine>;

/** Where a column may be mapped: a canonical field, or kept as a free attribute. */
export const MAPPING_TARGETS = [...CANONICAL_FIELDS, 'attributes'] as const;

/** The words of the API, for clients and for the request schemas. */
export const VOCABULARY = {
  phases: STEP_PHASES,
  topPhases: TOP_PHASES,
  statuses: STATUSES,
  mappingTargets: MAPPING_TARGETS,
  assetTypes: ASSET_TYPES,
  flags: COMPLETION_FLAGS,
  events: EVENT_TYPES,
  stepOutcomes: STEP_OUTCOMES,
} as const;

/** Statuses in which nothing changes until someone sends an event (or migrates the workflow). */
export function isAtRest(status: WorkflowStatus): boolean {
  return status === 'needs_migration' || TERMINAL_STATUSES.includes(status);
}

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
 * The events each status accepts, for clients deciding which actions to offer: read off the machine's
 * states (own events of each leaf state and its ancestors), so the machine stays the one authority.
 * Guards are not evaluated: RETRY may still be refused when a partial restart lacks inputs.
 */
export const ACCEPTED_EVENTS: Readonly<Record<WorkflowStatus, readonly string[]>> = acceptedByStatus();

function acceptedByStatus(): Record<WorkflowStatus, string[]> {
  const accepted = Object.fromEntries(STATUSES.map((status) => [status, [] as string[]])) as Record<WorkflowStatus, string[]>;
  const external = new Set<string>(EVENT_TYPES);
  const visit = (node: AnyStateNode, value: StateValue, ancestors: AnyStateNode[]) => {
    const children = Object.entries(node.states);
    if (children.length > 0) {
      for (const [key, child] of children) visit(child, { [node.key]: key }, [node, ...ancestors]);
      return;
    }
    const list = accepted[statusOf(value)];
    for (const state of [node, ...ancestors]) {
      for (const event of state.ownEvents) if (external.has(event) && !list.includes(event)) list.push(event);
    }
  };
  for (const [key, node] of Object.entries(workflowMachine.root.states)) visit(node, key, []);
  return accepted;
}

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
  /** The workflow's trace id (OpenTelemetry), when tracing was on at its creation. */
  traceId: string | null;
  createdAt: string;
  updatedAt: string;
  raw?: unknown;
}

export interface ViewMeta {
  version: number;
  correlationId: string | null;
  traceId: string | null;
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
    traceId: meta.traceId,
    createdAt: meta.createdAt.toISOString(),
    updatedAt: meta.updatedAt.toISOString(),
  };
}

/** The committed view of a stored workflow row; with `raw`, the persisted snapshot too. */
export function rowToView(row: WorkflowRow, raw: boolean): WorkflowView {
  const snapshot = row.snapshot as WorkflowSnapshot;
  const view = toView(snapshot.value, snapshot.context, {
    version: row.version,
    correlationId: row.correlationId,
    traceId: traceIdOf(row.traceParent),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  });
  if (row.status === 'needs_migration') {
    view.status = 'needs_migration';
    view.accepted = ACCEPTED_EVENTS.needs_migration;
  }
  return raw ? { ...view, raw: row.snapshot } : view;
}
