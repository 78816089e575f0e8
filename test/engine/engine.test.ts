import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import { ArtifactCache } from '../../src/engine/artifacts.ts';
import { WorkflowEngine } from '../../src/engine/engine.ts';
import { WorkflowQueries } from '../../src/engine/queries.ts';
import { EventNotAcceptedError, WorkflowNotFoundError } from '../../src/engine/errors.ts';
import { AppError } from '../../src/errors.ts';
import type { WorkflowView } from '../../src/engine/view.ts';
import { DataError } from '../../src/handlers/errors.ts';
import { TransientError, type ErrorRecord } from '../../src/machine/errors.ts';
import { createStepActors, type StepBody } from '../../src/engine/steps.ts';
import { MACHINE_VERSION, type StepInput } from '../../src/machine/machine.ts';
import { STEP_PHASES, type Phase } from '../../src/machine/table.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps, hang, outputsFor, type StepBehaviour } from '../support/steps.ts';

const file = { name: 'servers.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') };

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const driver of DRIVERS) {
  describe(`WorkflowEngine on ${driver}`, () => {
    let store: WorkflowStore;
    const engines: WorkflowEngine[] = [];

    const engineWith = (steps: Partial<Record<Phase, StepBehaviour>> = {}, onCommitted?: (v: WorkflowView) => void) => {
      const engine = new WorkflowEngine({ store, steps: fakeSteps(steps), logger: testLogger(), onCommitted, retryPersistAfterMs: 50, leaseMs: 300, idleFailedMs: 200 });
      engines.push(engine);
      return engine;
    };
    /** An engine whose steps are wrapped like the real ones, so every attempt leaves a step-run record. */
    const recordingEngine = (steps: Partial<Record<Phase, StepBehaviour>> = {}) => {
      const bodies = Object.fromEntries(STEP_PHASES.map((p) => [p, async (input: StepInput, signal: AbortSignal) => (steps[p] ? steps[p](input, signal) : outputsFor(p))]));
      const engine: WorkflowEngine = new WorkflowEngine({
        store,
        steps: createStepActors(
          { store, logger: testLogger(), recordStepRun: (run) => engine.recordStepRun(run), crashGuard: (id, phase) => engine.crashGuard(id, phase) },
          bodies as Record<Phase, StepBody>,
        ),
        logger: testLogger(),
        retryPersistAfterMs: 50,
        leaseMs: 300,
      });
      engines.push(engine);
      return engine;
    };
    const finished = (id: string) => until(() => store.getWorkflow(id), (row) => row?.status === 'completed' || row?.status === 'failed');

    beforeEach(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
    });
    afterEach(async () => {
      await Promise.all(engines.splice(0).map((e) => e.stop()));
    });

    it('runs a created workflow to completed and audits every change with gapless seq', async () => {
      const engine = engineWith();
      const created = await engine.create({ name: 'demo', files: [file], autoStart: true });
      expect(created.status).toBe('running');
      expect(created.version).toBe(2);
      const row = await finished(created.id);
      expect(row).toMatchObject({ status: 'completed', phase: 'completed', machineVersion: MACHINE_VERSION });
      const history = (await store.getHistory(created.id, { limit: 100 })).items;
      expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i + 1));
      expect(history.at(-1)!.seq).toBe(row!.version);
      expect(history.at(-1)).toMatchObject({ toPhase: 'completed', status: 'completed' });
      expect(history.map((h) => h.toPhase)).toEqual(['pending', ...STEP_PHASES, 'completed']);
      expect(history[1]).toMatchObject({ eventType: 'START', fromPhase: 'pending' });
      expect(history[2]!.eventType).toBe('xstate.done.actor.step.data_source_analysis');
      expect(engine.liveCount).toBe(0);
    });

    it('drops the cached upload and outputs of a workflow once it completes, fails or waits for a person', async () => {
      const artifacts = new ArtifactCache(store);
      const engine = new WorkflowEngine({
        store,
        steps: fakeSteps({ data_validation: (input) => (input.workflowId === failing ? Promise.reject(new DataError('BAD_FILE', 'bad')) : outputsFor('data_validation')) }),
        logger: testLogger(),
        artifacts,
      });
      engines.push(engine);
      let failing = '';
      const tables = [{ id: 'servers.csv', file: 'servers.csv', format: 'csv' as const, encoding: 'utf-8', columns: ['name'], rows: [{ name: 'web01' }] }];
      const done = await engine.create({ name: 'done', files: [file], tables, autoStart: true });
      expect(artifacts.holds(done.id)).toBe(true);
      expect((await finished(done.id))!.status).toBe('completed');
      await until(async () => artifacts.holds(done.id), (held) => !held);
      failing = (await engine.create({ name: 'bad', files: [file], tables, autoStart: false })).id;
      expect(artifacts.holds(failing)).toBe(true);
      await engine.send(failing, { type: 'START' });
      expect((await finished(failing))!.status).toBe('failed');
      await until(async () => artifacts.holds(failing), (held) => !held);
    });

    it('answers an event the state does not accept with the events it does accept', async () => {
      const engine = engineWith();
      const created = await engine.create({ name: 'demo', files: [file], autoStart: false });
      const error = await engine.send(created.id, { type: 'APPROVE_MAPPINGS' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EventNotAcceptedError);
      expect((error as EventNotAcceptedError).details).toMatchObject({ phase: 'pending', status: 'pending', accepted: ['START', 'CANCEL'] });
      await expect(engine.send('00000000-0000-4000-8000-000000000000', { type: 'START' })).rejects.toBeInstanceOf(WorkflowNotFoundError);
    });

    it('explains why a partial restart is refused', async () => {
      const engine = engineWith({ data_validation: () => Promise.reject(new DataError('BAD_FILE', 'bad')) });
      const created = await engine.create({ name: 'demo', files: [file], autoStart: true });
      await finished(created.id);
      const error = await engine.send(created.id, { type: 'RETRY', fromPhase: 'asset_classification' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EventNotAcceptedError);
      expect((error as Error).message).toMatch(/data_validation has not completed/);
    });

    it('restores a workflow whose step was running when the process died, and completes it', async () => {
      const first = engineWith({ field_mapping: hang() });
      const created = await first.create({ name: 'crash', files: [file], autoStart: true });
      await until(() => store.getWorkflow(created.id), (row) => row?.phase === 'field_mapping');
      await first.stop();
      const ran: Phase[] = [];
      const track = (phase: Phase): StepBehaviour => () => (ran.push(phase), outputsFor(phase));
      const second = engineWith({ field_mapping: track('field_mapping'), asset_classification: track('asset_classification') });
      expect(await second.restoreAll()).toEqual({ restored: 1, skipped: 0 });
      expect((await finished(created.id))!.status).toBe('completed');
      expect(ran).toEqual(['field_mapping', 'asset_classification']);
      const history = (await store.getHistory(created.id, { limit: 100 })).items;
      expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i + 1));
    });

    it('leaves a trace of a kill -9: a restore audit row with the interrupted phase and attempt, the step run closed as interrupted', async () => {
      const first = recordingEngine({ field_mapping: hang() });
      const created = await first.create({ name: 'killed', files: [file], autoStart: true });
      const running = await until(() => store.getWorkflow(created.id), (row) => row?.phase === 'field_mapping');
      // What a kill -9 leaves in the database: the running state, no record of the attempt, a lease that ran out.
      await first.stop();
      await store.db.execute(sql`delete from step_runs where workflow_id = ${created.id}`);
      await store.db.execute(sql`update workflows set owner = 'dead-instance', lease_until = now() - interval '1 second' where id = ${created.id}`);
      const second = recordingEngine();
      expect(await second.restoreAll()).toEqual({ restored: 1, skipped: 0 });
      expect((await finished(created.id))!.status).toBe('completed');
      await second.idle();
      const history = (await store.getHistory(created.id, { limit: 100 })).items;
      expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i + 1));
      const restored = history.find((h) => h.eventType === 'workflow.restored');
      expect(restored).toMatchObject({
        seq: running!.version + 1,
        fromPhase: 'field_mapping',
        toPhase: 'field_mapping',
        status: 'running',
        event: { type: 'workflow.restored', interrupted: { phase: 'field_mapping', attempt: 1 } },
      });
      const runs = (await store.listStepRuns(created.id, { limit: 100 })).items.filter((r) => r.phase === 'field_mapping');
      expect(runs.map((r) => [r.attempt, r.outcome])).toEqual([
        [1, 'interrupted'],
        [1, 'succeeded'],
      ]);
      expect(runs[0]!.endedAt!.getTime()).toBeGreaterThanOrEqual(runs[0]!.startedAt.getTime());
    });

    it('fails a step with STEP_CRASHED after two process deaths in it, instead of resuming it forever; RETRY gives it new tries', async () => {
      /** What a kill -9 leaves: the running state held by an owner that is gone, its lease run out, no record of the attempt. */
      const kill = async (engine: WorkflowEngine, id: string) => {
        await engine.stop();
        await store.db.execute(sql`delete from step_runs where workflow_id = ${id} and outcome = 'cancelled'`);
        await store.db.execute(sql`update workflows set owner = 'dead-instance', lease_until = now() - interval '1 second' where id = ${id}`);
      };
      const first = recordingEngine({ asset_classification: hang() });
      const created = await first.create({ name: 'killer', files: [file], autoStart: true });
      await until(() => store.getWorkflow(created.id), (row) => row?.phase === 'asset_classification' && row.status === 'running');
      expect((await store.getWorkflow(created.id))!.interruptions).toBe(0);
      await kill(first, created.id);

      // The first death: counted by the claim, before the step runs again.
      const second = recordingEngine({ asset_classification: hang() });
      expect(await second.restoreAll()).toEqual({ restored: 1, skipped: 0 });
      expect((await store.getWorkflow(created.id))!.interruptions).toBe(1);
      await second.idle();
      expect((await store.getWorkflow(created.id))!.status).toBe('running');
      await kill(second, created.id);

      // The second death in the same step: the step is not run a third time.
      const ran: Phase[] = [];
      const third = recordingEngine({ asset_classification: () => (ran.push('asset_classification'), outputsFor('asset_classification')) });
      await third.restoreAll();
      const failed = await finished(created.id);
      expect(ran).toEqual([]);
      expect(failed).toMatchObject({ status: 'failed', phase: 'failed', interruptions: 0 });
      const view = await new WorkflowQueries({ store, maxUploadBytes: 1e6 }).get(created.id);
      expect(view.errors.at(-1)).toMatchObject({ code: 'STEP_CRASHED', phase: 'asset_classification', retryable: false });
      expect(view.errors.at(-1)!.hint).toMatch(/too large for this instance's memory/);
      await third.idle();
      const runs = (await store.listStepRuns(created.id, { limit: 100 })).items.filter((r) => r.phase === 'asset_classification');
      expect(runs.map((r) => [r.outcome, (r.error as ErrorRecord | null)?.code])).toEqual([
        ['interrupted', 'INTERRUPTED'],
        ['interrupted', 'INTERRUPTED'],
        ['failed', 'STEP_CRASHED'],
      ]);
      expect((runs[1]!.error as ErrorRecord).message).toMatch(/second attempt of this step a process death interrupted; it is not run again/);

      // A person who gave it more memory retries: the step gets its tries back and runs.
      await third.send(created.id, { type: 'RETRY' });
      expect((await finished(created.id))!.status).toBe('completed');
      expect(ran).toEqual(['asset_classification']);
    });

    it('does not count a shutdown that hands a running step over as a process death', async () => {
      const first = recordingEngine({ field_mapping: hang() });
      const created = await first.create({ name: 'handover', files: [file], autoStart: true });
      await until(() => store.getWorkflow(created.id), (row) => row?.phase === 'field_mapping');
      await first.stop();
      const second = recordingEngine({ field_mapping: hang() });
      await second.restoreAll();
      expect((await store.getWorkflow(created.id))!.interruptions).toBe(0);
      await second.stop();
      const third = recordingEngine();
      await third.restoreAll();
      expect((await finished(created.id))!.status).toBe('completed');
    });

    it('does not count taking back a workflow it evicted itself as a process death, whatever state the failed write left in memory', async () => {
      // The write of each completion fails twice (a dropped connection): the actor, already at
      // 'completed' in memory, is evicted and taken back from its row, still running
      // database_integration. Counted as deaths, the second take-back failed the workflow with
      // STEP_CRASHED without the process ever dying (seen in CI under database faults).
      const spied = Object.create(store) as WorkflowStore;
      let failures = 0;
      spied.persistChanges = (changes, runs = []) => {
        if (changes.some((c) => c.phase === 'completed') && failures < 2) {
          failures += 1;
          return Promise.reject(Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01' }));
        }
        return store.persistChanges(changes, runs);
      };
      const engine: WorkflowEngine = new WorkflowEngine({
        store: spied,
        steps: createStepActors(
          { store, logger: testLogger(), recordStepRun: (run) => engine.recordStepRun(run), crashGuard: (id, phase) => engine.crashGuard(id, phase) },
          Object.fromEntries(STEP_PHASES.map((p) => [p, async () => (await new Promise((r) => setTimeout(r, 20)), outputsFor(p))])) as unknown as Record<Phase, StepBody>,
        ),
        logger: testLogger(),
        retryPersistAfterMs: 20,
      });
      engines.push(engine);
      const created = await engine.create({ name: 'evicted', files: [file], autoStart: true });
      const done = await finished(created.id);
      expect(failures).toBe(2);
      expect(done).toMatchObject({ status: 'completed', interruptions: 0 });
      await engine.idle();
      const runs = (await store.listStepRuns(created.id, { limit: 100 })).items.filter((r) => r.phase === 'database_integration');
      expect(runs.map((r) => r.outcome).filter((o) => o !== 'succeeded' && o !== 'cancelled')).toEqual([]);
    });

    it('records a step stopped by a shutdown as interrupted once, not as cancelled', async () => {
      const first = recordingEngine({ field_mapping: hang() });
      const created = await first.create({ name: 'stopped', files: [file], autoStart: true });
      await until(() => store.getWorkflow(created.id), (row) => row?.phase === 'field_mapping');
      await first.stop();
      const second = recordingEngine();
      await second.restoreAll();
      await finished(created.id);
      await second.idle();
      const runs = (await store.listStepRuns(created.id, { limit: 100 })).items.filter((r) => r.phase === 'field_mapping');
      expect(runs.map((r) => r.outcome)).toEqual(['interrupted', 'succeeded']);
    });

    it('commits each step attempt\'s record in the same statement as the transition it leads to', async () => {
      // A record committed before its transition would, after a crash between the two, show the step
      // succeeding twice once the workflow is restored and the step runs again.
      const statements: { changes: { workflowId: string; fromPhase: string | null | undefined }[]; runs: { phase: string; outcome: string }[] }[] = [];
      const spied = Object.create(store) as WorkflowStore;
      spied.persistChanges = (changes, runs = []) => {
        statements.push({ changes: changes.map((c) => ({ workflowId: c.workflowId, fromPhase: c.transition.fromPhase })), runs: runs.map((r) => ({ phase: r.phase, outcome: r.outcome })) });
        return store.persistChanges(changes, runs);
      };
      let failures = 0;
      const bodies = Object.fromEntries(
        STEP_PHASES.map((p) => [
          p,
          async (_input: StepInput, _signal: AbortSignal) => {
            await new Promise((r) => setTimeout(r, 5));
            if (p === 'asset_classification' && failures++ === 0) throw new TransientError('busy');
            return outputsFor(p);
          },
        ]),
      );
      const engine: WorkflowEngine = new WorkflowEngine({
        store: spied,
        steps: createStepActors(
          { store, logger: testLogger(), recordStepRun: (run) => engine.recordStepRun(run), crashGuard: (id, phase) => engine.crashGuard(id, phase) },
          bodies as Record<Phase, StepBody>,
        ),
        logger: testLogger(),
      });
      engines.push(engine);
      const created = await engine.create({ name: 'atomic', files: [file], autoStart: true, options: { retry: { initialDelayMs: 10 } } });
      expect((await finished(created.id))!.status).toBe('completed');
      await engine.idle();
      const withRuns = statements.filter((s) => s.runs.length > 0);
      expect(withRuns.flatMap((s) => s.runs).filter((r) => r.outcome === 'succeeded')).toHaveLength(6);
      for (const statement of withRuns) {
        for (const run of statement.runs) {
          expect(statement.changes.some((c) => c.workflowId === created.id && c.fromPhase === run.phase), `${run.phase} ${run.outcome}`).toBe(true);
        }
      }
    });

    it('restores a workflow in backoff and wakes it at its original deadline', async () => {
      const first = engineWith({ data_validation: () => Promise.reject(new TransientError('busy')) });
      const created = await first.create({
        name: 'backoff',
        files: [file],
        autoStart: true,
        options: { retry: { initialDelayMs: 600 } },
      });
      const parked = await until(() => store.getWorkflow(created.id), (row) => row?.status === 'backoff');
      await first.stop();
      const wakeAt = Date.parse(((await new WorkflowQueries({ store, maxUploadBytes: 1 << 20 }).get(created.id)).wakeAt)!);
      let calledAt = 0;
      const second = engineWith({ data_validation: () => ((calledAt = Date.now()), outputsFor('data_validation')) });
      await second.restoreAll();
      expect((await finished(created.id))!.status).toBe('completed');
      expect(parked?.status).toBe('backoff');
      expect(calledAt).toBeGreaterThanOrEqual(wakeAt - 5);
    });

    it('evicts a failed workflow and brings it back from the database on RETRY', async () => {
      let broken = true;
      const engine = engineWith({
        asset_classification: () => {
          if (broken) throw new DataError('BAD', 'unclassifiable');
          return outputsFor('asset_classification');
        },
      });
      const created = await engine.create({ name: 'retry', files: [file], autoStart: true });
      const failed = await finished(created.id);
      expect(failed).toMatchObject({ status: 'failed', phase: 'failed' });
      // Kept live a while for a quick RETRY, then dropped from memory once idle.
      expect(engine.liveCount).toBe(1);
      await until(async () => engine.liveCount, (n) => n === 0);
      broken = false;
      const resumed = await engine.send(created.id, { type: 'RETRY' });
      expect(resumed.phase).toBe('asset_classification');
      expect((await finished(created.id))!.status).toBe('completed');
      const history = (await store.getHistory(created.id, { limit: 100 })).items;
      const retry = history.find((h) => h.eventType === 'RETRY')!;
      expect(retry).toMatchObject({ fromPhase: 'failed', toPhase: 'asset_classification' });
    });

    it('an event sent to an engine that does not hold the workflow is applied by its holder and answered as the holder would', async () => {
      const a = engineWith({ data_source_analysis: hang() });
      const created = await a.create({ name: 'shared', files: [file], autoStart: false });
      const b = engineWith({ data_source_analysis: hang() });
      const view = await b.send(created.id, { type: 'START' }, { correlationId: 'via-b' });
      expect(view).toMatchObject({ id: created.id, phase: 'data_source_analysis', status: 'running', version: 2 });
      // The holder ran it: b never brought it to life.
      expect(b.liveCount).toBe(0);
      expect(a.liveCount).toBe(1);
      const history = (await store.getHistory(created.id, { limit: 10 })).items;
      expect(history.map((h) => [h.seq, h.eventType, h.correlationId])).toEqual([[1, 'workflow.created', null], [2, 'START', 'via-b']]);
      const refused = await b.send(created.id, { type: 'START' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AppError);
      expect((refused as AppError).status).toBe(409);
      expect((refused as AppError).body()).toMatchObject({ code: 'EVENT_NOT_ACCEPTED', phase: 'data_source_analysis', status: 'running', accepted: ['CANCEL'] });
      expect((await store.getWorkflow(created.id))!.owner).toBe(a.instanceId);
    });

    it('adopts a workflow whose holder died with an event waiting in its inbox, and applies the event once', async () => {
      const b = engineWith({ data_source_analysis: hang() });
      const ghost = new WorkflowEngine({ store, steps: fakeSteps({ data_source_analysis: hang() }), logger: testLogger(), instanceId: 'ghost', leaseMs: 60_000 });
      engines.push(ghost);
      const created = await ghost.create({ name: 'orphan', files: [file], autoStart: false });
      // The holder stops answering (its timers and relay stop) but keeps its lease and heartbeat row, as after SIGKILL.
      (ghost as unknown as { leases: { stop(): void }; relay: { stop(): void } }).leases.stop();
      (ghost as unknown as { relay: { stop(): void } }).relay.stop();
      const sent = b.send(created.id, { type: 'START' });
      await until(async () => (await store.db.execute(sql`select count(*)::int as n from workflow_inbox where state = 'pending'`)) as unknown as { rows: { n: number }[] }, (r) => r.rows[0]!.n === 1);
      // Ten seconds of silence later it is dead: b takes the event back and the workflow over.
      await store.db.execute(sql`update instances set heartbeat_at = now() - interval '1 minute' where id = 'ghost'`);
      const view = await sent;
      expect(view).toMatchObject({ phase: 'data_source_analysis', version: 2 });
      expect((await store.getWorkflow(created.id))!.owner).toBe(b.instanceId);
      const history = (await store.getHistory(created.id, { limit: 10 })).items;
      expect(history.map((h) => h.eventType)).toEqual(['workflow.created', 'START']);
      // Taken back by the sender, or (having adopted the workflow) applied by it from its own inbox: either way once.
      const inbox = (await store.db.execute(sql`select state from workflow_inbox`)) as unknown as { rows: { state: string }[] };
      expect(inbox.rows).toHaveLength(1);
      expect(['withdrawn', 'done']).toContain(inbox.rows[0]!.state);
    });

    it('a stale writer loses with a version conflict and never overwrites a newer snapshot', async () => {
      // Two engines sharing one instance id stand for a lease that lapsed while its holder still ran.
      const a = new WorkflowEngine({ store, steps: fakeSteps({ data_source_analysis: hang() }), logger: testLogger(), instanceId: 'same' });
      const b = new WorkflowEngine({ store, steps: fakeSteps({ data_source_analysis: hang() }), logger: testLogger(), instanceId: 'same' });
      engines.push(a, b);
      const created = await a.create({ name: 'shared', files: [file], autoStart: false });
      await b.send(created.id, { type: 'START' });
      const error = await a.send(created.id, { type: 'START' }).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('VERSION_CONFLICT');
      const history = (await store.getHistory(created.id, { limit: 100 })).items;
      expect(history.map((h) => [h.seq, h.eventType, h.toPhase])).toEqual([
        [1, 'workflow.created', 'pending'],
        [2, 'START', 'data_source_analysis'],
      ]);
    });

    it('adopts the workflows of an instance that stopped renewing its leases', async () => {
      const a = engineWith({ field_mapping: hang() });
      const created = await a.create({ name: 'orphan', files: [file], autoStart: true });
      await until(() => store.getWorkflow(created.id), (row) => row?.phase === 'field_mapping');
      await a.stop();
      // As if the holder had died without releasing: its lease has simply run out.
      await store.db.execute(sql`update workflows set owner = 'dead-instance', lease_until = now() - interval '1 second' where id = ${created.id}`);
      const b = new WorkflowEngine({ store, steps: fakeSteps(), logger: testLogger(), leaseMs: 150 });
      engines.push(b);
      expect((await finished(created.id))!.status).toBe('completed');
    });

    it('marks a snapshot of an unknown machine version as needing migration and leaves it untouched', async () => {
      const engine = engineWith();
      const created = await engine.create({ name: 'old', files: [file], autoStart: false });
      await engine.stop();
      await store.db.execute(sql`update workflows set machine_version = 999 where id = ${created.id}`);
      const fresh = engineWith();
      expect(await fresh.restoreAll()).toEqual({ restored: 0, skipped: 1 });
      const row = await until(() => store.getWorkflow(created.id), (r) => r?.status === 'needs_migration');
      expect(row!.version).toBe(1);
    });

    it('upgrades a snapshot of an older machine version through a registered migration and carries on', async () => {
      const engine = engineWith({ data_source_analysis: hang() });
      const created = await engine.create({ name: 'old', files: [file], autoStart: true });
      await engine.stop();
      await store.db.execute(sql`update workflows set machine_version = ${MACHINE_VERSION - 1}, snapshot = jsonb_set(snapshot, '{context,name}', '"renamed-by-v0"') where id = ${created.id}`);
      const migrated: string[] = [];
      const fresh = new WorkflowEngine({
        store,
        steps: fakeSteps(),
        logger: testLogger(),
        migrations: {
          [MACHINE_VERSION - 1]: (snapshot) => {
            migrated.push(created.id);
            const context = snapshot.context as Record<string, unknown>;
            return { ...snapshot, context: { ...context, name: 'migrated' } };
          },
        },
      });
      engines.push(fresh);
      expect(await fresh.restoreAll()).toEqual({ restored: 1, skipped: 0 });
      const row = await finished(created.id);
      expect(row).toMatchObject({ status: 'completed', machineVersion: MACHINE_VERSION });
      expect(migrated).toEqual([created.id]);
      expect((await new WorkflowQueries({ store, maxUploadBytes: 1 << 20 }).get(created.id)).name).toBe('migrated');
    });

    it('reports each committed change, in order, after it is durable', async () => {
      const seen: string[] = [];
      const engine = engineWith({}, (view) => seen.push(`${view.version}:${view.phase}`));
      const created = await engine.create({ name: 'events', files: [file], autoStart: true });
      await finished(created.id);
      await engine.idle();
      expect(seen).toEqual([
        '2:data_source_analysis',
        '3:data_validation',
        '4:field_mapping',
        '5:asset_classification',
        '6:dependency_analysis',
        '7:database_integration',
        '8:completed',
      ]);
    });
  });
}
