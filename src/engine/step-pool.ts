import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { AppError } from '../errors.ts';
import { StepOutOfMemoryError } from './errors.ts';
import { serveStepChannel, type StepHost } from './step-channel.ts';
import type { StoredFile } from '../db/artifacts.ts';
import type { CheckTask, CheckTaskResult, StepTask, StepTaskResult, SerialisedError } from './step-worker.ts';

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
  private readonly piscina: Piscina<StepTask | CheckTask, StepTaskResult | CheckTaskResult>;

  /** `maxHeapMb`: each thread's old-generation heap (STEP_WORKER_MAX_MB); past it the thread ends, not the process. */
  constructor(
    threads: number,
    private readonly maxHeapMb?: number,
  ) {
    this.piscina = new Piscina({
      filename: new URL('./step-worker.mjs', import.meta.url).href,
      name: 'runStepTask',
      minThreads: threads,
      maxThreads: threads,
      // The entry registers tsx itself; inheriting the parent's loader flags would register it twice.
      execArgv: [],
      ...(maxHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } } : {}),
    });
  }

  /**
   * Runs one step; a failure in the worker is rethrown here as the error it was (an AppError keeps
   * its code, hint and retryability; a failure of the host's database work is rethrown itself).
   * The host serves the step's bulk rows over a channel of its own (see step-channel.ts).
   */
  async run(task: Omit<StepTask, 'port'>, signal: AbortSignal, host: StepHost = NO_HOST): Promise<StepTaskSuccess> {
    const { port1, port2 } = new MessageChannel();
    const channel = serveStepChannel(port1, host);
    try {
      const result = (await this.piscina.run({ ...task, port: port2 }, { signal, transferList: [port2] as never }).catch(this.outOfMemory(`Step ${task.phase}`))) as StepTaskResult;
      if (!result.ok) throw channel.failure() ?? rebuildError(result.error);
      return result;
    } finally {
      channel.close();
    }
  }

  /**
   * Parses an upload in a worker to check it (an unreadable file rejects with the AppError naming
   * it). The buffers in `move` are moved to the worker, not copied: nothing here may use them after.
   * With `upload` (uploadKey), the thread keeps the tables for the workflow's first step.
   */
  async checkUpload(files: StoredFile[], move: ArrayBuffer[] = [], upload: string | null = null): Promise<void> {
    const result = (await this.piscina.run({ phase: 'check_upload', files, upload }, { transferList: move as never }).catch(this.outOfMemory('Reading the upload', 'upload it again'))) as CheckTaskResult;
    if (!result.ok) throw rebuildError(result.error);
  }

  /** A thread that ran out of heap is reported as the export being too large, not as a passing failure. */
  private outOfMemory(what: string, then?: string) {
    return (error: unknown): never => {
      if ((error as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') throw new StepOutOfMemoryError(what, this.maxHeapMb, then);
      throw error;
    };
  }

  /** Terminates the threads; a task still running is rejected. */
  destroy(): Promise<void> {
    return this.piscina.destroy();
  }
}

const NO_HOST: StepHost = {
  files: () => Promise.reject(new Error('This step task has no host to read files from.')),
  stage: () => Promise.reject(new Error('This step task has no host to stage rows with.')),
  readStaged: () => ({
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('This step task has no host to read staged rows from.')) }),
  }),
};

function rebuildError(error: SerialisedError): Error {
  const rebuilt = error.app
    ? new AppError(error.app.code, error.message, { status: error.app.status, hint: error.app.hint, details: error.app.details, retryable: error.app.retryable })
    : new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}
