import { assign, fromPromise, setup, type PromiseActorLogic } from 'xstate';
import { toErrorRecord, type ErrorRecord } from './errors.ts';
import { backoffDelay, resolvePolicy, type RetryOptions } from './policy.ts';
import {
  COMPLETION_FLAGS,
  PHASE_SPECS,
  STEP_PHASES,
  nextPhase,
  phasesFrom,
  type CompletionFlag,
  type OutputKey,
  type Phase,
} from './table.ts';
import { MissingOutputsError, missingOutputs, retryRejection } from './validator.ts';

/** Bump when states, context shape or step inputs change: older snapshots then need a migration. */
export const MACHINE_VERSION = 2;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type MappingOverrides = Record<string, string>;

export interface WorkflowOptions {
  retry?: RetryOptions;
  /** true: always stop at the mapping review; false: never (blocking problems fail instead); not given: stop when the mapping needs a person. */
  reviewMappings?: boolean;
}

export interface WorkflowInput {
  workflowId: string;
  name: string;
  options?: Partial<WorkflowOptions>;
}

/** Phase outputs under the seed's names: small summaries that reference the big data by id. */
export type Outputs = Partial<Record<OutputKey, JsonObject>>;

export interface WorkflowContext {
  workflowId: string;
  name: string;
  options: WorkflowOptions;
  outputs: Outputs;
  flags: Record<CompletionFlag, boolean>;
  /** All attempts per phase over the workflow's life. */
  attempts: Record<Phase, number>;
  /** The attempt number within the current run of the active phase (reset on entering a phase). */
  attempt: number;
  /** Absolute deadline (epoch ms) of the current backoff; absolute so that it survives a restart. */
  wakeAt: number | null;
  /** The latest errors, newest last, capped so the snapshot stays small. */
  errors: ErrorRecord[];
  failedPhase: Phase | null;
  retryFrom: Phase | null;
  review: { required: boolean; reasons: string[]; approved: boolean; overrides: MappingOverrides } | null;
}

export type WorkflowEvent =
  | { type: 'START' }
  | { type: 'RETRY'; fromPhase?: Phase }
  | { type: 'CANCEL'; reason?: string }
  | { type: 'APPROVE_MAPPINGS'; overrides?: MappingOverrides };

export const EVENT_TYPES = ['START', 'RETRY', 'CANCEL', 'APPROVE_MAPPINGS'] as const satisfies readonly WorkflowEvent['type'][];

/** What a step actor receives. Kept small: it is stored in the persisted snapshot. */
export interface StepInput {
  workflowId: string;
  phase: Phase;
  attempt: number;
  /** The attempt is aborted after this long and counts as a retryable timeout. */
  timeoutMs: number;
  /** Reviewer overrides, for field_mapping only, once a reviewer approved. */
  overrides?: MappingOverrides;
  /** field_mapping only, when the workflow was created with it: false means nobody may be asked. */
  reviewMappings?: boolean;
}

export interface StepOutput {
  outputs: Outputs;
  /** field_mapping only: whether a person must look at the mappings before the workflow goes on. */
  review?: { required: boolean; reasons: string[] };
}

export type StepLogic = PromiseActorLogic<StepOutput, StepInput>;

const MAX_ERRORS_KEPT = 20;

function missingImplementation(phase: Phase): StepLogic {
  return fromPromise<StepOutput, StepInput>(async () => {
    throw new Error(`No implementation was provided for step ${phase}; supply one with machine.provide({ actors }).`);
  });
}

const stepActors = Object.fromEntries(STEP_PHASES.map((p) => [p, missingImplementation(p)])) as Record<Phase, StepLogic>;

/** Waits until an absolute deadline; restored from a snapshot it waits only for what is left. */
export const sleepUntil = fromPromise<void, { wakeAt: number }>(
  ({ input, signal }) =>
    new Promise<void>((resolve) => {
      const ms = Math.max(0, input.wakeAt - Date.now());
      // setTimeout overflows past 2^31-1 ms; backoffs are capped far below that anyway.
      const timer = setTimeout(resolve, Math.min(ms, 2_147_483_647));
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    }),
);

function pushError(errors: ErrorRecord[], record: ErrorRecord): ErrorRecord[] {
  return [...errors, record].slice(-MAX_ERRORS_KEPT);
}

function emptyFlags(): Record<CompletionFlag, boolean> {
  return Object.fromEntries(COMPLETION_FLAGS.map((f) => [f, false])) as Record<CompletionFlag, boolean>;
}

function outputsBefore(outputs: Outputs, phase: Phase): Outputs {
  const dropped = new Set(phasesFrom(phase).flatMap((p) => PHASE_SPECS[p].required));
  return Object.fromEntries(Object.entries(outputs).filter(([k]) => !dropped.has(k as OutputKey))) as Outputs;
}

const workflowSetup = setup({
  types: {
    context: {} as WorkflowContext,
    events: {} as WorkflowEvent,
    input: {} as WorkflowInput,
  },
  actors: { ...stepActors, sleepUntil },
  guards: {
    outputsIncomplete: ({ context, event }, params: { phase: Phase }) => {
      const output = (event as { output?: StepOutput }).output;
      return missingOutputs(params.phase, { ...context.outputs, ...(output?.outputs ?? {}) }).length > 0;
    },
    reviewRequired: ({ context, event }) => {
      const output = (event as { output?: StepOutput }).output;
      const approved = context.review?.approved ?? false;
      const asked = context.options.reviewMappings;
      return !approved && (asked === true || (asked !== false && (output?.review?.required ?? false)));
    },
    canRetryStep: ({ context, event }, params: { phase: Phase }) => {
      const record = toErrorRecord((event as { error?: unknown }).error, params.phase, context.attempt);
      return record.retryable && context.attempt <= resolvePolicy(context.options.retry, params.phase).retries;
    },
    canRetryWorkflow: ({ context, event }) => {
      if (event.type !== 'RETRY') return false;
      return retryRejection(context, event.fromPhase) === null;
    },
    retryTargetIs: ({ context }, params: { phase: Phase }) => context.retryFrom === params.phase,
  },
  actions: {
    enterPhase: assign({ attempt: 0, wakeAt: null }),
    countAttempt: assign(({ context }, params: { phase: Phase }) => ({
      attempt: context.attempt + 1,
      attempts: { ...context.attempts, [params.phase]: context.attempts[params.phase] + 1 },
    })),
    storeOutputs: assign(({ context, event }) => {
      const output = (event as { output?: StepOutput }).output;
      return { outputs: { ...context.outputs, ...(output?.outputs ?? {}) } };
    }),
    markComplete: assign(({ context }, params: { phase: Phase }) => ({
      flags: { ...context.flags, [PHASE_SPECS[params.phase].flag]: true },
    })),
    holdForReview: assign(({ context, event }) => {
      const output = (event as { output?: StepOutput }).output;
      const reasons = output?.review?.reasons ?? [];
      return {
        review: {
          required: true,
          reasons: context.options.reviewMappings === true ? ['The workflow was created with reviewMappings: true.', ...reasons] : reasons,
          approved: false,
          overrides: {},
        },
      };
    }),
    approveMappings: assign(({ context, event }) => {
      const overrides = event.type === 'APPROVE_MAPPINGS' ? (event.overrides ?? {}) : {};
      return {
        attempt: 0,
        review: { required: true, reasons: context.review?.reasons ?? [], approved: true, overrides },
      };
    }),
    scheduleRetry: assign(({ context, event }, params: { phase: Phase }) => {
      const record = toErrorRecord((event as { error?: unknown }).error, params.phase, context.attempt);
      const delay = backoffDelay(resolvePolicy(context.options.retry, params.phase), context.attempt);
      return { wakeAt: Date.now() + delay, errors: pushError(context.errors, record) };
    }),
    recordFailure: assign(({ context, event }, params: { phase: Phase }) => {
      const record = toErrorRecord((event as { error?: unknown }).error, params.phase, context.attempt);
      const exhausted = record.retryable
        ? {
            ...record,
            code: 'RETRIES_EXHAUSTED',
            message: `${record.message} (gave up after ${context.attempt} attempts; last error ${record.code})`,
            hint: `Look at the earlier errors of ${params.phase}, fix the cause, then send RETRY.`,
            retryable: false,
          }
        : record;
      return { errors: pushError(context.errors, exhausted), failedPhase: params.phase, wakeAt: null };
    }),
    recordMissingOutputs: assign(({ context, event }, params: { phase: Phase }) => {
      const output = (event as { output?: StepOutput }).output;
      const missing = missingOutputs(params.phase, { ...context.outputs, ...(output?.outputs ?? {}) });
      const record = toErrorRecord(new MissingOutputsError(params.phase, missing), params.phase, context.attempt);
      return { errors: pushError(context.errors, record), failedPhase: params.phase };
    }),
    recordCancel: assign(({ context, event }, params: { phase: Phase | 'pending' }) => {
      const reason = event.type === 'CANCEL' && event.reason ? event.reason : 'no reason given';
      const record: ErrorRecord = {
        code: 'CANCELLED',
        phase: params.phase,
        attempt: context.attempt,
        message: `Cancelled during ${params.phase}: ${reason}.`,
        hint: 'Send RETRY to resume from this phase, or RETRY with fromPhase to restart earlier.',
        at: new Date().toISOString(),
        retryable: false,
      };
      const failedPhase = params.phase === 'pending' ? STEP_PHASES[0] : params.phase;
      return { errors: pushError(context.errors, record), failedPhase, wakeAt: null };
    }),
    prepareRetry: assign(({ context, event }) => {
      const from = (event.type === 'RETRY' ? event.fromPhase : undefined) ?? context.failedPhase ?? STEP_PHASES[0];
      const cleared = new Set(phasesFrom(from).map((p) => PHASE_SPECS[p].flag));
      return {
        retryFrom: from,
        outputs: outputsBefore(context.outputs, from),
        flags: Object.fromEntries(COMPLETION_FLAGS.map((f) => [f, cleared.has(f) ? false : context.flags[f]])) as Record<CompletionFlag, boolean>,
        review: STEP_PHASES.indexOf(from) <= STEP_PHASES.indexOf('field_mapping') ? null : context.review,
      };
    }),
    clearRetry: assign({ retryFrom: null, failedPhase: null }),
  },
});

function stepPhaseState<P extends Phase>(phase: P) {
  const next = nextPhase(phase);
  const advance = {
    target: `#workflow.${next}`,
    actions: ['storeOutputs', { type: 'markComplete', params: { phase } }],
  } as const;
  const review =
    phase === 'field_mapping'
      ? [{ guard: 'reviewRequired', target: 'review', actions: ['storeOutputs', 'holdForReview'] } as const]
      : [];
  return {
    initial: 'running',
    entry: 'enterPhase',
    on: { CANCEL: { target: '#workflow.failed', actions: { type: 'recordCancel', params: { phase } } } },
    states: {
      running: {
        entry: { type: 'countAttempt', params: { phase } },
        invoke: {
          id: `step.${phase}` as const,
          src: phase,
          input: ({ context }: { context: WorkflowContext }): StepInput => ({
            workflowId: context.workflowId,
            phase,
            attempt: context.attempts[phase],
            timeoutMs: resolvePolicy(context.options.retry, phase).timeoutMs,
            ...(phase === 'field_mapping' && context.review?.approved ? { overrides: context.review.overrides } : {}),
            ...(phase === 'field_mapping' && context.options.reviewMappings !== undefined ? { reviewMappings: context.options.reviewMappings } : {}),
          }),
          onDone: [
            {
              guard: { type: 'outputsIncomplete', params: { phase } },
              target: '#workflow.failed',
              actions: { type: 'recordMissingOutputs', params: { phase } },
            },
            ...review,
            advance,
          ],
          onError: [
            { guard: { type: 'canRetryStep', params: { phase } }, target: 'backoff', actions: { type: 'scheduleRetry', params: { phase } } },
            { target: '#workflow.failed', actions: { type: 'recordFailure', params: { phase } } },
          ],
        },
      },
      backoff: {
        invoke: {
          id: `wait.${phase}`,
          src: 'sleepUntil',
          input: ({ context }: { context: WorkflowContext }) => ({ wakeAt: context.wakeAt ?? 0 }),
          onDone: { target: 'running' },
        },
      },
      ...(phase === 'field_mapping'
        ? ({ review: { on: { APPROVE_MAPPINGS: { target: 'running', actions: 'approveMappings' } } } } as const)
        : {}),
    },
  } as const;
}

export const workflowMachine = workflowSetup.createMachine({
  id: 'workflow',
  context: ({ input }) => ({
    workflowId: input.workflowId,
    name: input.name,
    options: {
      ...(input.options?.reviewMappings === undefined ? {} : { reviewMappings: input.options.reviewMappings }),
      ...(input.options?.retry ? { retry: input.options.retry } : {}),
    },
    outputs: {},
    flags: emptyFlags(),
    attempts: Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<Phase, number>,
    attempt: 0,
    wakeAt: null,
    errors: [],
    failedPhase: null,
    retryFrom: null,
    review: null,
  }),
  initial: 'pending',
  states: {
    pending: {
      on: {
        START: { target: 'data_source_analysis' },
        CANCEL: { target: 'failed', actions: { type: 'recordCancel', params: { phase: 'pending' } } },
      },
    },
    data_source_analysis: stepPhaseState('data_source_analysis'),
    data_validation: stepPhaseState('data_validation'),
    field_mapping: stepPhaseState('field_mapping'),
    asset_classification: stepPhaseState('asset_classification'),
    dependency_analysis: stepPhaseState('dependency_analysis'),
    database_integration: stepPhaseState('database_integration'),
    failed: {
      on: { RETRY: { guard: 'canRetryWorkflow', target: 'retrying', actions: 'prepareRetry' } },
    },
    retrying: {
      always: [
        ...STEP_PHASES.map((phase) => ({
          guard: { type: 'retryTargetIs', params: { phase } } as const,
          target: phase,
          actions: 'clearRetry' as const,
        })),
        { target: 'failed' },
      ],
    },
    completed: { type: 'final' },
  },
});

export type WorkflowMachine = typeof workflowMachine;

