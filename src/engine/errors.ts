import { certainlyNotApplied } from '../db/client.ts';
import { AppError } from '../errors.ts';
import type { Phase, TopPhase, WorkflowStatus } from '../machine/table.ts';

// The errors the engine reports to its callers, each with the HTTP status the server answers with.

export class WorkflowNotFoundError extends AppError {
  constructor(id: string) {
    super('WORKFLOW_NOT_FOUND', `No workflow has id ${id}. List workflows with GET /workflows.`, { status: 404 });
  }
}

export class EventNotAcceptedError extends AppError {
  constructor(eventType: string, phase: TopPhase, status: WorkflowStatus, accepted: readonly string[], reason?: string) {
    const because = reason ?? `In phase ${phase} (status ${status}) the workflow accepts ${accepted.length ? accepted.join(', ') : 'no events'}.`;
    super('EVENT_NOT_ACCEPTED', `Event ${eventType} is not accepted now. ${because}`, { status: 409, details: { phase, status, accepted } });
  }
}

export class ConflictError extends AppError {
  constructor(id: string) {
    super('VERSION_CONFLICT', `Workflow ${id} was changed by another writer at the same time; read it again and resend if still needed.`, { status: 409 });
  }
}

export class NeedsMigrationError extends AppError {
  constructor(id: string, found: number, expected: number) {
    super(
      'NEEDS_MIGRATION',
      `Workflow ${id} was stored by machine version ${found}, this service runs version ${expected}; it is left untouched until migrated.`,
      { status: 409, details: { machineVersion: found, expected } },
    );
  }
}

/**
 * A change the database did not confirm. When the statement never reached the server it was not
 * applied; when the server stopped answering after receiving it, it may still commit once the
 * server resumes, and the answer says so (`details.applied: "unknown"`) rather than promise either.
 */
export class PersistenceError extends AppError {
  constructor(cause: unknown, options: { neverSent?: boolean } = {}) {
    const unknown = !options.neverSent && !certainlyNotApplied(cause);
    super(
      'PERSISTENCE_UNAVAILABLE',
      unknown
        ? 'The database did not confirm the change in time; it may still take effect when the database recovers. Read the workflow before sending the event again.'
        : 'The change could not be stored because the database is unavailable; it was not applied. Try again shortly.',
      { status: 503, retryable: true, cause, details: { applied: unknown ? 'unknown' : false } },
    );
  }
}

/** An earlier phase's stored output is gone (deleted by hand?): no retry can bring it back. */
export class ArtifactMissingError extends AppError {
  constructor(workflowId: string, key: string) {
    super('ARTIFACT_MISSING', `The stored output "${key}" of an earlier phase is missing for workflow ${workflowId}.`, {
      status: 409,
      retryable: false,
      hint: 'Send RETRY with fromPhase data_source_analysis to rebuild every output.',
    });
  }
}

/**
 * A step thread ran out of its heap (STEP_WORKER_MAX_MB): the thread is gone, the process lives on.
 * Running it again would run out again, so it is not retried; the same for an upload being checked.
 */
export class StepOutOfMemoryError extends AppError {
  /** `then`: what to do once the export is smaller or the limit higher (a workflow is retried, an upload sent again). */
  constructor(what: string, limitMb: number | undefined, then = 'send RETRY') {
    super('STEP_OUT_OF_MEMORY', `${what} needed more memory than a step thread may use (${limitMb === undefined ? "V8's default heap limit" : `STEP_WORKER_MAX_MB=${limitMb}`}).`, {
      status: 413,
      retryable: false,
      hint: `The export is too large for this instance: split it into smaller files, or raise STEP_WORKER_MAX_MB (and the memory of the instance), then ${then}.`,
      details: { limitMb: limitMb ?? null },
    });
  }
}

/**
 * A step whose attempts keep dying with the process (out of memory, a native crash, an OOM kill):
 * resuming it would kill the process again, and every restart with it, so the workflow fails here.
 */
export class StepCrashedError extends AppError {
  constructor(phase: Phase, interruptions: number) {
    super('STEP_CRASHED', `Step ${phase} was interrupted by a process death ${interruptions} times in a row (the process was killed or ran out of memory while it ran), so it is not run again.`, {
      status: 409,
      retryable: false,
      hint:
        'The export is probably too large for this instance\'s memory: split it, or give the service more memory ' +
        '(NODE_OPTIONS=--max-old-space-size=<MB>, a larger container), then send RETRY to run the step again ' +
        `(it gets ${interruptions} more tries); the service log of the restarts shows what ended the process.`,
      details: { phase, interruptions },
    });
  }
}

export class RestoringError extends AppError {
  constructor(id: string) {
    super('RESTORING', `Workflow ${id} is not running here yet: the service restarted and is restoring its workflows. Retry in a moment.`, { status: 503 });
  }
}

// Whether a failure means the database is away (503, try again) rather than a defect: the driver's
// knowledge, passed on to the server, which answers requests but never sees the database.
export { isDatabaseUnavailable } from '../db/client.ts';
