import { fromPromise } from 'xstate';
import type { StepInput, StepLogic, StepOutput } from '../../src/machine/machine.ts';
import { PHASE_SPECS, STEP_PHASES, type Phase } from '../../src/machine/table.ts';

export type StepBehaviour = (input: StepInput, signal: AbortSignal) => Promise<StepOutput> | StepOutput;

/** The outputs a phase must leave, as tiny summaries. */
export function outputsFor(phase: Phase): StepOutput {
  return { outputs: Object.fromEntries(PHASE_SPECS[phase].required.map((key) => [key, { phase, ok: true }])) };
}

/** Step actors that succeed at once unless a phase is given its own behaviour. */
export function fakeSteps(overrides: Partial<Record<Phase, StepBehaviour>> = {}): Record<Phase, StepLogic> {
  return Object.fromEntries(
    STEP_PHASES.map((phase) => [
      phase,
      fromPromise<StepOutput, StepInput>(async ({ input, signal }) => (overrides[phase] ? overrides[phase](input, signal) : outputsFor(phase))),
    ]),
  ) as Record<Phase, StepLogic>;
}

/** A behaviour that never settles until aborted: a step in flight. */
export function hang(): StepBehaviour {
  return (_input, signal) => new Promise<StepOutput>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
}
