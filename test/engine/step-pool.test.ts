import { monitorEventLoopDelay } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import { ARTIFACT } from '../../src/engine/artifacts.ts';
import type { StepRequest } from '../../src/engine/step-logic.ts';
import { StepPool } from '../../src/engine/step-pool.ts';
import type { StepHost } from '../../src/engine/step-channel.ts';
import type { StepTask } from '../../src/engine/step-worker.ts';
import { createStepActors } from '../../src/engine/steps.ts';
import { isAppError } from '../../src/errors.ts';
import { analyseSource, mapFields, parseInputs, validateRecords } from '../../src/handlers/index.ts';
import { toErrorRecord } from '../../src/machine/errors.ts';
import { wireService } from '../../src/server/service.ts';
import { cmfIntakeCsv, generateLargeExport, serviceNowCiCsv, serviceNowRelCsv, utf8 } from '../fixtures/generate.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';

const request = (workflowId: string): StepRequest => ({ workflowId, overrides: undefined, reviewMappings: undefined, review: undefined });
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const never = () => new AbortController().signal;

describe('step pool', () => {
  let pool: StepPool;

  beforeEach(() => {
    pool = new StepPool(1);
    return () => pool.destroy();
  });

  const analysisTask = (workflowId: string, csv: string): Omit<StepTask, 'port'> => ({
    phase: 'data_source_analysis',
    request: request(workflowId),
    files: [{ name: 'things.csv', format: 'csv', bytes: utf8(csv).byteLength }],
    artifacts: {},
  });
  /** The main thread's side: the files when the worker asks, staging rows counted as they come. */
  const host = (csv: string | Uint8Array, staged = { kind: '', lines: 0, parts: 0 }): StepHost => ({
    // A copy each time, as the store reads it anew: a file's own buffer is moved to the thread.
    files: async () => [{ name: 'things.csv', format: 'csv', content: typeof csv === 'string' ? utf8(csv) : csv.slice() }],
    stage: async (kind, parts) => {
      for await (const part of parts) {
        staged.parts += 1;
        for (const byte of part) if (byte === 10) staged.lines += 1;
      }
      Object.assign(staged, { kind });
    },
    readStaged: () => {
      throw new Error('no staged rows here');
    },
  });

  it('gives the first step the tables it parsed checking a streamed upload, so the step reads and parses nothing', async () => {
    const { csv } = serviceNowCiCsv({ rows: 40, seed: 3 });
    const noFiles: StepHost = { ...host(csv), files: () => Promise.reject(new Error('the files were read again')) };
    await pool.checkUpload([{ name: 'things.csv', format: 'csv', content: utf8(csv) }], [], 'upload:u1');
    const result = await pool.run({ ...analysisTask('w-checked', csv), upload: 'upload:u1' }, never(), noFiles);
    expect(result.summary.outputs.cmdb_data).toMatchObject({ records: 40 });
    // Taken out of the check's entry: the next step finds them under the workflow, not the upload.
    await pool.run({ ...analysisTask('w-checked', csv), upload: null }, never(), noFiles);
    // An upload checked without a key is not kept: its step reads the files.
    await pool.checkUpload([{ name: 'things.csv', format: 'csv', content: utf8(csv) }]);
    await expect(pool.run({ ...analysisTask('w-unkept', csv), upload: 'upload:u2' }, never(), noFiles)).rejects.toThrow(/the files were read again/);
  });

  it('runs a step in a worker thread and hands back its summary and encoded artefact', async () => {
    const { csv } = serviceNowCiCsv({ rows: 50, seed: 1 });
    const result = await pool.run(analysisTask('w1', csv), never(), host(csv));
    expect(result.threadId).not.toBe(threadId);
    expect(result.summary.outputs.cmdb_data).toMatchObject({ records: 50, files: [{ name: 'things.csv', format: 'csv', bytes: utf8(csv).byteLength }] });
    expect(result.saves.map((s) => s.key)).toEqual([ARTIFACT.analysis]);
    expect(JSON.parse(new TextDecoder().decode(result.saves[0]!.bytes))).toMatchObject({ source: { system: 'servicenow' } });
  });

  it('moves a file whose bytes are a whole buffer to the thread instead of copying it; a slice of one is copied', async () => {
    const { csv } = serviceNowCiCsv({ rows: 20, seed: 3 });
    const whole = utf8(csv);
    const inBigger = new Uint8Array(whole.byteLength + 8);
    inBigger.set(whole, 8);
    const slice = inBigger.subarray(8);
    for (const [id, content] of [['moved', whole], ['copied', slice]] as const) {
      const result = await pool.run(analysisTask(id, csv), never(), { ...host(csv), files: async () => [{ name: 'things.csv', format: 'csv', content }] });
      expect(result.summary.outputs.cmdb_data).toMatchObject({ records: 20 });
    }
    expect(whole.byteLength).toBe(0); // detached: its memory went with it
    expect(new TextDecoder().decode(slice)).toBe(csv);
  });

  it('terminates the thread of a task whose signal aborts', async () => {
    const small = serviceNowCiCsv({ rows: 5, seed: 1 }).csv;
    const warm = await pool.run(analysisTask('w1', small), never(), host(small));
    const controller = new AbortController();
    const large = generateLargeExport(100_000);
    const long = pool.run(analysisTask('w2', large), controller.signal, host(large));
    setTimeout(() => controller.abort(new Error('cancelled')), 100);
    const started = performance.now();
    await expect(long).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(2_000);
    // The pool's one thread was terminated: the next task runs on its replacement.
    const next = await pool.run(analysisTask('w3', small), never(), host(small));
    expect(next.threadId).not.toBe(warm.threadId);
  });

  it('rethrows an AppError from a worker with its code, hint and retryability', async () => {
    const caught = await pool.run(analysisTask('w1', 'sys_id,name,ip_address\r\n'), never(), host('sys_id,name,ip_address\r\n')).catch((error: unknown) => error);
    expect(isAppError(caught)).toBe(true);
    const inline = await parseInputs([{ name: 'things.csv', format: 'csv', content: utf8('sys_id,name,ip_address\r\n') }])
      .then((tables) => analyseSource(tables))
      .catch((error: unknown) => error);
    const at = new Date();
    expect(toErrorRecord(caught, 'data_source_analysis', 1, at)).toEqual(toErrorRecord(inline, 'data_source_analysis', 1, at));
    expect(toErrorRecord(caught, 'data_source_analysis', 1, at)).toMatchObject({ code: 'NO_RECORDS', retryable: false, hint: expect.stringContaining('rows') });
  });

  /** An asset_classification task on a generated export, with its inputs as the main thread would send them. */
  const classificationTask = async (rows: number): Promise<{ task: Omit<StepTask, 'port'>; content: Uint8Array }> => {
    const content = utf8(generateLargeExport(rows));
    const tables = await parseInputs([{ name: 'things.csv', format: 'csv', content }], { maxBytes: Number.POSITIVE_INFINITY });
    const analysis = analyseSource(tables);
    const validation = validateRecords(tables, analysis);
    const mappings = mapFields(tables, analysis);
    const task: Omit<StepTask, 'port'> = {
      phase: 'asset_classification',
      request: request(`c${rows}`),
      files: [{ name: 'things.csv', format: 'csv', bytes: content.byteLength }],
      artifacts: { analysis: encode(analysis), validation: encode(validation), mappings: encode(mappings) },
    };
    return { task, content };
  };

  it('fails the step with the host\'s own error when its database work fails (a driver error keeps its code)', async () => {
    const { task, content } = await classificationTask(3_000);
    const failure = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    const caught = await pool
      .run(task, never(), {
        ...host(content),
        stage: async () => {
          throw failure;
        },
      })
      .catch((error: unknown) => error);
    expect(caught).toBe(failure);
  });

  it('ends a staging write that is still taking parts with an error when the task is aborted, so it cannot commit half', async () => {
    const { task, content } = await classificationTask(20_000);
    const controller = new AbortController();
    let taken = 0;
    let ended: unknown = 'still open';
    const run = pool.run(task, controller.signal, {
      ...host(content),
      stage: async (_kind, parts) => {
        try {
          for await (const _part of parts) {
            taken += 1;
            if (taken === 1) controller.abort(new Error('cancelled'));
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          ended = 'completed';
        } catch (error) {
          ended = error;
          throw error;
        }
      },
    });
    await expect(run).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(20);
    expect(ended).toBeInstanceOf(Error);
    expect((ended as Error).message).toMatch(/ended before all its staging rows were sent/);
  });

  it('fails a step whose thread runs out of its heap with STEP_OUT_OF_MEMORY, not retryable; the process and the pool live on', async () => {
    const small = new StepPool(1, 48);
    try {
      const { task, content } = await classificationTask(100_000);
      const caught = await small.run(task, never(), host(content)).catch((error: unknown) => error);
      expect(caught).toMatchObject({ code: 'STEP_OUT_OF_MEMORY', status: 413, retryable: false, details: { limitMb: 48 }, hint: expect.stringMatching(/then send RETRY\.$/) });
      expect((caught as Error).message).toMatch(/Step asset_classification needed more memory than a step thread may use \(STEP_WORKER_MAX_MB=48\)/);
      await expect(small.checkUpload([{ name: 'things.csv', format: 'csv', content }])).rejects.toMatchObject({ code: 'STEP_OUT_OF_MEMORY' });
      // The thread that ran out was replaced: a small step runs.
      const csv = serviceNowCiCsv({ rows: 5, seed: 1 }).csv;
      expect((await small.run(analysisTask('after', csv), never(), host(csv))).summary.outputs.cmdb_data).toMatchObject({ records: 5 });
    } finally {
      await small.destroy();
    }
  });

  it('keeps the main event loop responsive while a large export is classified', async () => {
    const content = utf8(generateLargeExport(100_000));
    const tables = await parseInputs([{ name: 'things.csv', format: 'csv', content }], { maxBytes: Number.POSITIVE_INFINITY });
    const analysis = analyseSource(tables);
    const validation = validateRecords(tables, analysis);
    const mappings = mapFields(tables, analysis);
    const small = serviceNowCiCsv({ rows: 5, seed: 1 }).csv;
    await pool.run(analysisTask('warm', small), never(), host(small));
    const staged = { kind: '', lines: 0, parts: 0 };
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const result = await pool.run(
      {
        phase: 'asset_classification',
        request: request('big'),
        files: [{ name: 'things.csv', format: 'csv', bytes: content.byteLength }],
        artifacts: { analysis: encode(analysis), validation: encode(validation), mappings: encode(mappings) },
      },
      never(),
      // The staging rows come over the channel a part at a time, as the step makes them.
      host(content, staged),
    );
    const elapsed = performance.now() - started;
    delay.disable();
    expect(result.summary.outputs.asset_classes).toBeDefined();
    expect(staged).toEqual({ kind: 'assets', lines: 100_000, parts: 100 });
    // Parsing and classifying these rows on the main thread stalls it for seconds (measured: 3 s and
    // more on 2 cores); here it never waited long, and kept turning while the worker ran.
    const maxDelayMs = delay.max / 1e6;
    expect(maxDelayMs).toBeLessThan(1_000);
    expect(maxDelayMs).toBeLessThan(elapsed / 2);
  });
});

describe('the pipeline in worker threads', () => {
  let store: WorkflowStore;
  let wirings: ReturnType<typeof wireService>[];

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    wirings = [];
  });

  afterEach(async () => {
    for (const wired of wirings) await wired.engine.stop();
  });

  const wire = (stepWorkers: number) => {
    // Small uploads would run on the main thread: these must go through the pool.
    const wired = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 24, stepWorkers, inlineMaxUploadBytes: 0, steps: (hooks) => createStepActors({ store, logger: testLogger(), ...hooks }) });
    wirings.push(wired);
    return wired;
  };

  async function run(wired: ReturnType<typeof wireService>, files: { name: string; format: string; content: Uint8Array }[]) {
    const { id } = await wired.engine.create({ name: 'p', files, autoStart: true });
    for (let i = 0; i < 1_000; i++) {
      const view = await wired.queries.get(id);
      if (['completed', 'failed'].includes(view.status)) return { id, view };
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('did not settle');
  }

  it('leaves the same summaries and artefacts as the main thread', async () => {
    const { csv, cis } = serviceNowCiCsv({ rows: 150, seed: 5 });
    const files = [
      { name: 'cmdb_ci.csv', format: 'csv', content: utf8(csv) },
      { name: 'cmdb_rel_ci.csv', format: 'csv', content: utf8(serviceNowRelCsv(cis, { seed: 5, unknownEndpoints: 3 })) },
      { name: 'intake.csv', format: 'csv', content: utf8(cmfIntakeCsv()) },
    ];
    const inline = await run(wire(0), files);
    const pooled = await run(wire(1), files);
    expect(pooled.view.status).toBe('completed');
    expect(pooled.view.context).toEqual(inline.view.context);
    for (const key of Object.values(ARTIFACT)) expect(await store.getArtifact(pooled.id, key)).toEqual(await store.getArtifact(inline.id, key));
  });

  it('fails a step whose worker threw with the error record the main thread would have kept', async () => {
    const { view } = await run(wire(1), [{ name: 'things.csv', format: 'csv', content: utf8('sys_id,name,ip_address\r\n') }]);
    expect(view.status).toBe('failed');
    expect(view.errors.at(-1)).toMatchObject({ code: 'NO_RECORDS', phase: 'data_source_analysis', attempt: 1, retryable: false, hint: expect.stringContaining('rows') });
  });
});
