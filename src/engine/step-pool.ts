import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { AppError } from '../errors.ts';
import type { InventoryTask, InventoryTaskResult, StepTask, StepTaskResult, SerialisedError } from './step-worker.ts';

/** Worker threads by default: every core but the one the API's event loop runs on, at least one. */
export function defaultStepWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

export type StepTaskSuccess = Extract<StepTaskResult, { ok: true }>;

/**
 * Runs step bodies in worker threads (piscina), so parsing and classifying a large export never
 * blocks the API's event loop. Aborting a task's signal terminates the thread running it.
 */
export class StepPool {
  private readonly piscina: Piscina<StepTask | InventoryTask, StepTaskResult | InventoryTaskResult>;

  constructor(threads: number) {
    this.piscina = new Piscina({
      filename: new URL('./step-worker.mjs', import.meta.url).href,
      name: 'runStepTask',
      minThreads: threads,
      maxThreads: threads,
      // The entry registers tsx itself; inheriting the parent's loader flags would register it twice.
      execArgv: [],
    });
  }

  /** Runs one step; a failure in the worker is rethrown here as the error it was (an AppError keeps its code, hint and retryability). */
  async run(task: StepTask, signal: AbortSignal): Promise<StepTaskSuccess> {
    const result = (await this.piscina.run(task, { signal })) as StepTaskResult;
    if (!result.ok) throw rebuildError(result.error);
    return result;
  }

  /** database_integration's encoding: the inventory as COPY text parts, for the store to write. */
  async encodeInventory(task: InventoryTask, signal: AbortSignal): Promise<Extract<InventoryTaskResult, { ok: true }>> {
    const result = (await this.piscina.run(task, { signal })) as InventoryTaskResult;
    if (!result.ok) throw rebuildError(result.error);
    return result;
  }

  /** Terminates the threads; a task still running is rejected. */
  destroy(): Promise<void> {
    return this.piscina.destroy();
  }
}

function rebuildError(error: SerialisedError): Error {
  const rebuilt = error.app
    ? new AppError(error.app.code, error.message, { status: error.app.status, hint: error.app.hint, details: error.app.details, retryable: error.app.retryable })
    : new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}
