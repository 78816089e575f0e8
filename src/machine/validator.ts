import { AppError } from '../errors.ts';
import { PHASE_SPECS, STEP_PHASES, TRANSITIONS, isStepPhase, phasesBefore, type CompletionFlag, type OutputKey, type Phase, type TopPhase } from './table.ts';

export class InvalidTransitionError extends AppError {
  constructor(from: TopPhase, to: TopPhase) {
    const allowed = TRANSITIONS[from];
    super(
      'INVALID_TRANSITION',
      `A workflow cannot move from ${from} to ${to}; from ${from} it may move to ${allowed.length ? allowed.join(', ') : 'nothing (terminal)'}.`,
      { status: 500, hint: 'This indicates a defect in the machine; the change was not persisted.' },
    );
  }
}

export class MissingOutputsError extends AppError {
  constructor(phase: Phase, missing: OutputKey[]) {
    super('MISSING_OUTPUTS', `Phase ${phase} cannot complete: required outputs missing: ${missing.join(', ')}.`, {
      status: 500,
      hint: 'The step must produce these outputs before the workflow may move on; this is a defect in the step implementation, report it with the workflow id.',
    });
  }
}

/** Required outputs of `phase` that `outputs` lacks. */
export function missingOutputs(phase: Phase, outputs: Partial<Record<OutputKey, unknown>>): OutputKey[] {
  return PHASE_SPECS[phase].required.filter((key) => outputs[key] === undefined || outputs[key] === null);
}

/** Checks phase changes against the transition table. */
export const WorkflowStateValidator = {
  canTransition(from: TopPhase, to: TopPhase): boolean {
    return from === to || TRANSITIONS[from].includes(to);
  },

  assertTransition(from: TopPhase, to: TopPhase): void {
    if (!this.canTransition(from, to)) throw new InvalidTransitionError(from, to);
  },

  /** Checks the phase change of one macrostep: a retrying workflow passes through `retrying` within it, so both hops are checked. */
  assertMacrostep(from: TopPhase, to: TopPhase): void {
    if (from === 'failed' && to !== 'failed' && to !== 'retrying') {
      this.assertTransition('failed', 'retrying');
      this.assertTransition('retrying', to);
    } else {
      this.assertTransition(from, to);
    }
  },
};

interface RetryState {
  failedPhase: Phase | null;
  outputs: Partial<Record<OutputKey, unknown>>;
  flags: Record<CompletionFlag, boolean>;
}

/**
 * Why a RETRY from `fromPhase` (default: the failed phase) cannot run, or null when it can.
 * A phase may be restarted only when every phase before it completed and left its outputs.
 */
export function retryRejection(state: RetryState, fromPhase: unknown): string | null {
  const from = fromPhase ?? state.failedPhase ?? STEP_PHASES[0];
  if (!isStepPhase(from)) return `fromPhase must be one of ${STEP_PHASES.join(', ')}.`;
  for (const earlier of phasesBefore(from)) {
    if (!state.flags[PHASE_SPECS[earlier].flag]) {
      return `Cannot restart from ${from}: the earlier phase ${earlier} has not completed. Retry from ${earlier} or earlier.`;
    }
    const missing = missingOutputs(earlier, state.outputs);
    if (missing.length > 0) {
      return `Cannot restart from ${from}: outputs of ${earlier} are missing (${missing.join(', ')}). Retry from ${earlier} or earlier.`;
    }
  }
  return null;
}
