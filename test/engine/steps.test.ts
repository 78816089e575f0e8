import { DrizzleQueryError } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { createActor, toPromise, waitFor } from 'xstate';
import type { WorkflowStore } from '../../src/db/store.ts';
import { createStepActors, createStepBodies, type StepOutcome } from '../../src/engine/steps.ts';
import { workflowMachine, type StepInput, type StepOutput } from '../../src/machine/machine.ts';
import { STEP_PHASES, type Phase } from '../../src/machine/table.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { outputsFor } from '../support/steps.ts';
import { DataError } from '../../src/handlers/errors.ts';
import { wireService } from '../../src/server/service.ts';

type Body = (input: StepInput, signal: AbortSignal) => Promise<StepOutput>;

describe('step adapter', () => {
  let store: WorkflowStore;
  const workflowId = '00000000-0000-4000-8000-0000000000aa';

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    const at = new Date();
    await store.createWorkflow(
      { id: workflowId, name: 't', phase: 'pending', status: 'pending', snapshot: {}, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
      { workflowId, seq: 1, eventType: 'x', event: {}, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
      [],
    );
  });

  const bodies = (overrides: Partial<Record<Phase, Body>>) =>
    Object.fromEntries(STEP_PHASES.map((p) => [p, overrides[p] ?? (async () => outputsFor(p))])) as Record<Phase, Body>;

  it('aborts a hung attempt through its signal at the timeout and retries it as a timeout', async () => {
    let calls = 0;
    let abortedWith: unknown = null;
    const outcomes: StepOutcome[] = [];
    const steps = createStepActors(
      { store, logger: testLogger(), onAttempt: (_p, outcome) => outcomes.push(outcome) },
      bodies({
        data_validation: (_input, signal) => {
          calls += 1;
          if (calls > 1) return Promise.resolve(outputsFor('data_validation'));
          return new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              abortedWith = signal.reason;
              reject(new Error('hung body noticed the abort'));
            }),
          );
        },
      }),
    );
    const actor = createActor(workflowMachine.provide({ actors: steps }), {
      input: { workflowId, name: 't', options: { retry: { initialDelayMs: 1, phases: { data_validation: { timeoutMs: 50 } } } } },
    });
    actor.subscribe({ error: () => {} });
    actor.start();
    actor.send({ type: 'START' });
    const done = await waitFor(actor, (s) => s.status === 'done' || s.matches('failed'), { timeout: 5_000 });
    expect(done.value).toBe('completed');
    expect(calls).toBe(2);
    expect((abortedWith as { code?: string }).code).toBe('STEP_TIMEOUT');
    expect(done.context.errors.map((e) => [e.code, e.retryable])).toEqual([['STEP_TIMEOUT', true]]);
    expect(outcomes.filter((o) => o !== 'succeeded')).toEqual(['timed_out']);
    const runs = await store.listStepRuns(workflowId, { limit: 100 });
    expect(runs.items.filter((r) => r.phase === 'data_validation').map((r) => r.outcome)).toEqual(['timed_out', 'succeeded']);
  });

  it('records a cancelled attempt when the workflow is cancelled mid-step', async () => {
    const steps = createStepActors(
      { store, logger: testLogger() },
      bodies({ field_mapping: (_i, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('stop')))) }),
    );
    const actor = createActor(workflowMachine.provide({ actors: steps }), { input: { workflowId, name: 't' } });
    actor.subscribe({ error: () => {} });
    actor.start();
    actor.send({ type: 'START' });
    await waitFor(actor, (s) => s.matches('field_mapping'));
    actor.send({ type: 'CANCEL', reason: 'operator' });
    for (let i = 0; i < 100; i++) {
      const runs = await store.listStepRuns(workflowId, { limit: 100 });
      if (runs.items.some((r) => r.phase === 'field_mapping')) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const runs = await store.listStepRuns(workflowId, { limit: 100 });
    expect(runs.items.find((r) => r.phase === 'field_mapping')?.outcome).toBe('cancelled');
  });

  it('injects transient faults at the configured share', async () => {
    let n = 0;
    const rolls = [0.1, 0.9, 0.15, 0.5];
    const steps = createStepActors(
      { store, logger: testLogger(), faults: { transient: 0.2, timeout: 0, slow: 0, slowMs: 0 }, random: () => rolls[n++ % rolls.length]! },
      bodies({}),
    );
    const actor = createActor(steps.data_source_analysis, { input: { workflowId, phase: 'data_source_analysis', attempt: 1, timeoutMs: 1_000 } });
    actor.subscribe({ error: () => {} });
    actor.start();
    await expect(toPromise(actor)).rejects.toMatchObject({ code: 'INJECTED_FAULT', retryable: true });
    const second = createActor(steps.data_source_analysis, { input: { workflowId, phase: 'data_source_analysis', attempt: 2, timeoutMs: 1_000 } });
    second.subscribe({ error: () => {} });
    second.start();
    await expect(toPromise(second)).resolves.toEqual(outputsFor('data_source_analysis'));
  });

  it('fails at once, without burning retries, when an earlier phase\'s stored output is missing', async () => {
    // The real integration step reads the classified assets and the dependency graph; neither was stored.
    const real = createStepBodies({ store, logger: testLogger() });
    const steps = createStepActors({ store, logger: testLogger() }, bodies({ database_integration: real.database_integration }));
    const actor = createActor(workflowMachine.provide({ actors: steps }), {
      input: { workflowId, name: 't', options: { retry: { retries: 3, initialDelayMs: 1 } } },
    });
    actor.subscribe({ error: () => {} });
    actor.start();
    actor.send({ type: 'START' });
    const done = await waitFor(actor, (s) => s.matches('failed') || s.status === 'done', { timeout: 5_000 });
    expect(done.value).toBe('failed');
    expect(done.context.attempts.database_integration).toBe(1);
    expect(done.context.errors.map((e) => [e.phase, e.code, e.retryable])).toEqual([['database_integration', 'ARTIFACT_MISSING', false]]);
    expect(done.context.errors[0]!.hint).toMatch(/RETRY with fromPhase data_source_analysis/);
  });
});

describe('what a failure leaves behind', () => {
  it('keeps error records to a code, a capped human message and a hint on every failure path; the snapshot stays under 16 KB', async () => {
    const { store } = await testDatabase('pglite');
    await truncateAll(store);
    const binary = new Uint8Array(1_500_000).fill(7);
    const failures: Record<string, () => never> = {
      'failed query with a binary parameter': () => {
        throw new DrizzleQueryError('insert into "artifacts" ("body") values ($1)', [binary], Object.assign(new Error('value too long for type character varying(10)'), { code: '22001' }));
      },
      'dropped connection': () => {
        throw new DrizzleQueryError('select "name", "format", "size_bytes" from "dataset_files" where "workflow_id" = $1', ['x'], Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
      },
      'a 100 KB message with a stack': () => {
        throw new Error(`boom ${'x'.repeat(100_000)}\n    at secret (/work/src/file.ts:1:1)`);
      },
      'a thrown non-error': () => {
        throw { rows: Array.from({ length: 10_000 }, (_, i) => ({ i })) } as never;
      },
      'a data error quoting the file': () => {
        throw new DataError('BAD_ROW', `Row 1 is bad: ${'cell,'.repeat(10_000)}`);
      },
    };
    for (const [label, fail] of Object.entries(failures)) {
      const { engine: e } = wireService({
        store,
        logger: testLogger(),
        maxUploadBytes: 1 << 20,
        steps: (hooks) =>
          createStepActors(
            { store, logger: testLogger(), ...hooks },
            Object.fromEntries(STEP_PHASES.map((p) => [p, p === 'data_validation' ? async () => fail() : async () => outputsFor(p)])) as never,
          ),
      });
      try {
        const view = await e.create({ name: label, files: [{ name: 'a.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') }], options: { retry: { retries: 2, initialDelayMs: 1, maxDelayMs: 2 } }, autoStart: true });
        let row = await store.getWorkflow(view.id);
        for (let i = 0; i < 300 && row?.status !== 'failed'; i++) {
          await new Promise((r) => setTimeout(r, 10));
          row = await store.getWorkflow(view.id);
        }
        await e.idle();
        row = await store.getWorkflow(view.id);
        expect(row!.status, label).toBe('failed');
        const snapshot = JSON.stringify(row!.snapshot);
        expect(snapshot.length, label).toBeLessThan(16 * 1024);
        const errors = (row!.snapshot as { context: { errors: { code: string; message: string; hint: string }[] } }).context.errors;
        expect(errors.length, label).toBeGreaterThan(0);
        for (const record of errors) {
          expect(record.message.length, label).toBeLessThanOrEqual(2_048);
          expect(record.message, label).not.toMatch(/select |insert into|params|\bat \w+ \(|\/work\//i);
          expect(record.code, label).toMatch(/^[A-Z_0-9]+$/);
          expect(record.hint.length, label).toBeGreaterThan(0);
        }
        const history = JSON.stringify((await store.getHistory(view.id, { limit: 100 })).items.map((h) => h.event));
        expect(history, label).not.toMatch(/select |insert into|params/i);
        const steps = JSON.stringify((await store.listStepRuns(view.id, { limit: 100 })).items.map((r) => r.error));
        expect(steps.length, label).toBeLessThan(16 * 1024);
        expect(steps, label).not.toMatch(/select |insert into|params/i);
      } finally {
        await e.stop();
      }
    }
  }, 60_000);
});
