// The workflow's vocabulary and its transition table, written once as data (the table follows the
// design document kept outside this repository, ../shared/DESIGN.md). The machine is built from it
// and the validator checks against it; a test proves the machine's phase graph equals it.

export const STEP_PHASES = [
  'data_source_analysis',
  'data_validation',
  'field_mapping',
  'asset_classification',
  'dependency_analysis',
  'database_integration',
] as const;
export type Phase = (typeof STEP_PHASES)[number];

export const TOP_PHASES = ['pending', ...STEP_PHASES, 'failed', 'retrying', 'completed'] as const;
export type TopPhase = (typeof TOP_PHASES)[number];

export const TRANSITIONS: Readonly<Record<TopPhase, readonly TopPhase[]>> = {
  pending: ['data_source_analysis', 'failed'],
  data_source_analysis: ['data_validation', 'failed'],
  data_validation: ['field_mapping', 'failed'],
  field_mapping: ['asset_classification', 'failed'],
  asset_classification: ['dependency_analysis', 'failed'],
  dependency_analysis: ['database_integration', 'failed'],
  database_integration: ['completed', 'failed'],
  failed: ['retrying'],
  retrying: [...STEP_PHASES, 'failed'],
  completed: [],
};

/** Phases where no step runs and nothing happens by itself: only RETRY leaves failed, nothing leaves completed. */
export const TERMINAL_PHASES = ['failed', 'completed'] as const satisfies readonly TopPhase[];

/** What a workflow is doing: its phase, refined by the sub-state of a step phase (see statusOf in src/engine/view.ts). */
export const STATUSES = ['pending', 'running', 'backoff', 'awaiting_review', 'retrying', ...TERMINAL_PHASES, 'needs_migration'] as const;
export type WorkflowStatus = (typeof STATUSES)[number];

/** Statuses of a workflow no instance needs to run: nothing changes until someone sends RETRY. */
export const TERMINAL_STATUSES: readonly WorkflowStatus[] = TERMINAL_PHASES;

export const OUTPUT_KEYS = [
  'cmdb_data',
  'source_analysis',
  'validation_results',
  'field_mappings',
  'asset_classes',
  'dependencies',
  'database_operations',
] as const;
export type OutputKey = (typeof OUTPUT_KEYS)[number];

export const COMPLETION_FLAGS = [
  'data_source_analysis_complete',
  'data_validation_complete',
  'field_mapping_complete',
  'asset_classification_complete',
  'dependency_analysis_complete',
  'database_integration_complete',
] as const;
export type CompletionFlag = (typeof COMPLETION_FLAGS)[number];

export interface PhaseSpec {
  required: readonly OutputKey[];
  flag: CompletionFlag;
}

export const PHASE_SPECS: Readonly<Record<Phase, PhaseSpec>> = {
  data_source_analysis: { required: ['cmdb_data', 'source_analysis'], flag: 'data_source_analysis_complete' },
  data_validation: { required: ['validation_results'], flag: 'data_validation_complete' },
  field_mapping: { required: ['field_mappings'], flag: 'field_mapping_complete' },
  asset_classification: { required: ['asset_classes'], flag: 'asset_classification_complete' },
  dependency_analysis: { required: ['dependencies'], flag: 'dependency_analysis_complete' },
  database_integration: { required: ['database_operations'], flag: 'database_integration_complete' },
};

export function isStepPhase(value: unknown): value is Phase {
  return typeof value === 'string' && (STEP_PHASES as readonly string[]).includes(value);
}

/** The step phase after `phase`, or 'completed' after the last one. */
export function nextPhase(phase: Phase): Phase | 'completed' {
  const i = STEP_PHASES.indexOf(phase);
  return STEP_PHASES[i + 1] ?? 'completed';
}

/** Phases strictly before `phase`, in order. */
export function phasesBefore(phase: Phase): Phase[] {
  return STEP_PHASES.slice(0, STEP_PHASES.indexOf(phase));
}

/** Phases from `phase` to the end, in order. */
export function phasesFrom(phase: Phase): Phase[] {
  return STEP_PHASES.slice(STEP_PHASES.indexOf(phase));
}
