import { createActor, fromPromise } from 'xstate';
import type { NewTransitionRow } from '../db/schema.ts';
import { workflowMachine, type StepInput, type StepOutput, type WorkflowInput } from '../machine/machine.ts';
import { STEP_PHASES } from '../machine/table.ts';
import { phaseOf, statusOf, type WorkflowSnapshot } from './view.ts';

/** The machine with steps that never finish: it only tells which state an event leads to. */
const probeMachine = workflowMachine.provide({
  actors: Object.fromEntries(STEP_PHASES.map((phase) => [phase, fromPromise<StepOutput, StepInput>(() => new Promise<never>(() => {}))])),
});

export interface FirstState {
  snapshot: WorkflowSnapshot;
  persisted: unknown;
  /** The audit rows of the create: `workflow.created`, then START when it starts at once. */
  transitions: NewTransitionRow[];
}

/**
 * A new workflow's first stored state. With `start`, the state after START: the row, its created and
 * START audit rows go to the database in one statement, so a create that answers an error has
 * created nothing, and the live actor starts from that state as a restored one does (its first step
 * runs from the stored input). No step runs before the row exists.
 */
export function firstState(
  input: WorkflowInput,
  start: boolean,
  meta: { at: Date; correlationId: string | null; actor: string | null; files: { name: string; bytes: number }[] },
): FirstState {
  const probe = createActor(probeMachine, { input });
  probe.start();
  const created = probe.getSnapshot();
  const row = (seq: number, event: Record<string, unknown> & { type: string }, from: WorkflowSnapshot | null, to: WorkflowSnapshot): NewTransitionRow => ({
    workflowId: input.workflowId,
    seq,
    eventType: event.type,
    event,
    fromPhase: from ? phaseOf(from.value) : null,
    toPhase: phaseOf(to.value),
    value: to.value,
    status: statusOf(to.value),
    at: meta.at,
    durationMs: from ? 0 : null,
    correlationId: meta.correlationId,
    actor: meta.actor,
  });
  const transitions = [row(1, { type: 'workflow.created', files: meta.files }, null, created)];
  if (start) {
    probe.send({ type: 'START' });
    transitions.push(row(2, { type: 'START' }, created, probe.getSnapshot()));
  }
  const result = { snapshot: probe.getSnapshot(), persisted: probe.getPersistedSnapshot(), transitions };
  probe.stop();
  return result;
}
