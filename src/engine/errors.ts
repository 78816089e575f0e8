import type { TopPhase } from '../machine/table.ts';
import type { WorkflowStatus } from './view.ts';

/** Errors the engine reports to its callers; the server maps each to one HTTP status. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class WorkflowNotFoundError extends EngineError {
  constructor(id: string) {
    super('WORKFLOW_NOT_FOUND', `No workflow has id ${id}. List workflows with GET /workflows.`);
  }
}

export class EventNotAcceptedError extends EngineError {
  constructor(eventType: string, phase: TopPhase, status: WorkflowStatus, accepted: string[], reason?: string) {
    const because = reason ?? `In phase ${phase} (status ${status}) the workflow accepts ${accepted.length ? accepted.join(', ') : 'no events'}.`;
    super('EVENT_NOT_ACCEPTED', `Event ${eventType} is not accepted now. ${because}`, { phase, status, accepted });
  }
}

export class ConflictError extends EngineError {
  constructor(id: string) {
    super('VERSION_CONFLICT', `Workflow ${id} was changed by another writer at the same time; read it again and resend if still needed.`);
  }
}

export class NeedsMigrationError extends EngineError {
  constructor(id: string, found: number, expected: number) {
    super(
      'NEEDS_MIGRATION',
      `Workflow ${id} was stored by machine version ${found}, this service runs version ${expected}; it is left untouched until migrated.`,
      { machineVersion: found, expected },
    );
  }
}

export class PersistenceError extends EngineError {
  constructor(cause: unknown) {
    super('PERSISTENCE_UNAVAILABLE', 'The change could not be stored because the database is unavailable; it was not applied. Try again shortly.');
    this.cause = cause;
  }
}

export class WorkflowBusyError extends EngineError {
  constructor(id: string, owner: string | null, leaseUntil: Date | null) {
    super(
      'WORKFLOW_BUSY',
      `Workflow ${id} is being run by another instance (${owner ?? 'unknown'}) until ${leaseUntil?.toISOString() ?? 'its lease ends'}; retry shortly or send the event to that instance.`,
      { owner, leaseUntil: leaseUntil?.toISOString() ?? null },
    );
  }
}
