import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, waitFor, type SnapshotFrom } from 'xstate';
import { DataError } from '../../src/handlers/errors.ts';
import { TransientError } from '../../src/machine/errors.ts';
import { workflowMachine, type WorkflowInput } from '../../src/machine/machine.ts';
import { STEP_PHASES, type Phase } from '../../src/machine/table.ts';
import { fakeSteps, hang, outputsFor, type StepBehaviour } from '../support/steps.ts';

type Snapshot = SnapshotFrom<typeof workflowMachine>;
type MatchArg = Parameters<Snapshot['matches']>[0];

/** A compound state value, typed loosely: the machine's inferred value types are too narrow for generated phases. */
const at = (phase: string, sub: string) => ({ [phase]: sub }) as unknown as MatchArg;

function start(overrides: Partial<Record<Phase, StepBehaviour>> = {}, input: Partial<WorkflowInput> = {}) {
  const machine = workflowMachine.provide({ actors: fakeSteps(overrides) });
  const actor = createActor(machine, { input: { workflowId: 'wf-1', name: 'test', ...input } });
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  actor.start();
  return { actor, errors, machine };
}

const settled = (s: Snapshot) => s.status === 'done' || s.matches('failed') || s.matches(at('field_mapping', 'review'));

afterEach(() => {
  vi.useRealTimers();
});

describe('workflow machine', () => {
  it('runs all six phases in order and completes with every flag set', async () => {
    const seen: string[] = [];
    const { actor } = start();
    actor.subscribe((s) => seen.push(typeof s.value === 'string' ? s.value : Object.keys(s.value)[0]!));
    actor.send({ type: 'START' });
    const done = await waitFor(actor, settled);
    expect(done.value).toBe('completed');
    expect([...new Set(seen)]).toEqual([...STEP_PHASES, 'completed']);
    expect(Object.values(done.context.flags).every(Boolean)).toBe(true);
    expect(Object.keys(done.context.outputs).sort()).toEqual(
      ['asset_classes', 'cmdb_data', 'database_operations', 'dependencies', 'field_mappings', 'source_analysis', 'validation_results'],
    );
  });

  it('retries a transient failure with exponential backoff', async () => {
    vi.useFakeTimers({ now: 0 });
    let calls = 0;
    const wakeAts: number[] = [];
    const { actor } = start({
      data_validation: () => {
        calls += 1;
        if (calls <= 2) throw new TransientError('database busy');
        return outputsFor('data_validation');
      },
    });
    actor.subscribe((s) => {
      if (s.matches(at('data_validation', 'backoff')) && s.context.wakeAt !== null) wakeAts.push(s.context.wakeAt - Date.now());
    });
    actor.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().matches(at('data_validation', 'backoff'))).toBe(true);
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toBe(3);
    const done = await waitFor(actor, settled);
    expect(done.value).toBe('completed');
    expect(wakeAts).toEqual([1_000, 2_000]);
    expect(done.context.attempts.data_validation).toBe(3);
    expect(done.context.errors.map((e) => [e.code, e.attempt])).toEqual([
      ['TRANSIENT', 1],
      ['TRANSIENT', 2],
    ]);
  });

  it('caps the delay at maxDelayMs and draws full jitter below it', () => {
    vi.useFakeTimers({ now: 0 });
    const { actor } = start(
      { data_source_analysis: () => Promise.reject(new TransientError('down')) },
      { options: { retry: { retries: 5, initialDelayMs: 1_000, factor: 10, maxDelayMs: 5_000, jitter: true } } },
    );
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    actor.send({ type: 'START' });
    return vi.advanceTimersByTimeAsync(0).then(async () => {
      expect(actor.getSnapshot().context.wakeAt).toBe(500);
      await vi.advanceTimersByTimeAsync(500);
      // second retry: min(5000, 10000) * 0.5
      expect(actor.getSnapshot().context.wakeAt! - Date.now()).toBe(2_500);
    });
  });

  it('moves to failed with a structured record when retries run out', async () => {
    const { actor } = start(
      { field_mapping: () => Promise.reject(new TransientError('lock timeout')) },
      { options: { retry: { retries: 2, initialDelayMs: 1 } } },
    );
    actor.send({ type: 'START' });
    const failed = await waitFor(actor, settled);
    expect(failed.value).toBe('failed');
    expect(failed.context.failedPhase).toBe('field_mapping');
    expect(failed.context.attempts.field_mapping).toBe(3);
    const last = failed.context.errors.at(-1)!;
    expect(last).toMatchObject({ code: 'RETRIES_EXHAUSTED', phase: 'field_mapping', attempt: 3, retryable: false });
    expect(last.message).toContain('lock timeout');
    expect(last.hint).toMatch(/RETRY/);
    expect(Date.parse(last.at)).not.toBeNaN();
  });

  it('fails at once on a data error without retrying', async () => {
    const { actor } = start({
      data_source_analysis: () => Promise.reject(new DataError('UNREADABLE_FILE', 'servers.csv: not a CSV file', { hint: 'Upload the CSV export.' })),
    });
    actor.send({ type: 'START' });
    const failed = await waitFor(actor, settled);
    expect(failed.value).toBe('failed');
    expect(failed.context.attempts.data_source_analysis).toBe(1);
    expect(failed.context.errors).toEqual([
      expect.objectContaining({ code: 'UNREADABLE_FILE', phase: 'data_source_analysis', attempt: 1, message: 'servers.csv: not a CSV file', hint: 'Upload the CSV export.' }),
    ]);
  });

  it('counts unknown errors as transient', async () => {
    let calls = 0;
    const { actor } = start(
      {
        asset_classification: () => {
          calls += 1;
          if (calls === 1) throw new Error('socket hang up');
          return outputsFor('asset_classification');
        },
      },
      { options: { retry: { initialDelayMs: 1 } } },
    );
    actor.send({ type: 'START' });
    expect((await waitFor(actor, settled)).value).toBe('completed');
    expect(calls).toBe(2);
  });

  it('fails a phase that completes without its required outputs, naming them', async () => {
    const { actor } = start({ data_source_analysis: () => ({ outputs: { cmdb_data: { ok: true } } }) });
    actor.send({ type: 'START' });
    const failed = await waitFor(actor, settled);
    expect(failed.value).toBe('failed');
    expect(failed.context.errors.at(-1)).toMatchObject({ code: 'MISSING_OUTPUTS', phase: 'data_source_analysis' });
    expect(failed.context.errors.at(-1)!.message).toContain('source_analysis');
    expect(failed.context.flags.data_source_analysis_complete).toBe(false);
  });

  it('RETRY resumes at the failed phase and keeps earlier outputs', async () => {
    let broken = true;
    const runs: Phase[] = [];
    const track = (phase: Phase): StepBehaviour => () => {
      runs.push(phase);
      if (phase === 'dependency_analysis' && broken) throw new DataError('BAD', 'bad relation file');
      return outputsFor(phase);
    };
    const { actor } = start(Object.fromEntries(STEP_PHASES.map((p) => [p, track(p)])));
    actor.send({ type: 'START' });
    expect((await waitFor(actor, settled)).value).toBe('failed');
    broken = false;
    runs.length = 0;
    actor.send({ type: 'RETRY' });
    const done = await waitFor(actor, settled);
    expect(done.value).toBe('completed');
    expect(runs).toEqual(['dependency_analysis', 'database_integration']);
    expect(done.context.failedPhase).toBeNull();
  });

  it('RETRY with fromPhase restarts an earlier phase and clears later outputs', async () => {
    let broken = true;
    const runs: Phase[] = [];
    const track = (phase: Phase): StepBehaviour => () => {
      runs.push(phase);
      if (phase === 'database_integration' && broken) throw new DataError('BAD', 'constraint');
      return outputsFor(phase);
    };
    const { actor } = start(Object.fromEntries(STEP_PHASES.map((p) => [p, track(p)])));
    actor.send({ type: 'START' });
    await waitFor(actor, settled);
    broken = false;
    runs.length = 0;
    actor.send({ type: 'RETRY', fromPhase: 'field_mapping' });
    const restarted = actor.getSnapshot();
    expect(restarted.matches('field_mapping')).toBe(true);
    expect(restarted.context.flags.field_mapping_complete).toBe(false);
    expect(restarted.context.flags.data_validation_complete).toBe(true);
    expect(restarted.context.outputs.asset_classes).toBeUndefined();
    expect((await waitFor(actor, settled)).value).toBe('completed');
    expect(runs).toEqual(['field_mapping', 'asset_classification', 'dependency_analysis', 'database_integration']);
  });

  it('refuses a partial restart from a phase whose inputs do not exist', async () => {
    const { actor } = start({ data_validation: () => Promise.reject(new DataError('BAD', 'broken')) });
    actor.send({ type: 'START' });
    const failed = await waitFor(actor, settled);
    expect(failed.can({ type: 'RETRY', fromPhase: 'asset_classification' })).toBe(false);
    expect(failed.can({ type: 'RETRY', fromPhase: 'data_source_analysis' })).toBe(true);
    expect(failed.can({ type: 'RETRY' })).toBe(true);
  });

  it('CANCEL moves an active phase to failed with code CANCELLED and aborts the step', async () => {
    let aborted = false;
    const { actor } = start({
      data_validation: (_input, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          }),
        ),
    });
    actor.send({ type: 'START' });
    await waitFor(actor, (s) => s.matches('data_validation'));
    actor.send({ type: 'CANCEL', reason: 'wrong file uploaded' });
    const failed = actor.getSnapshot();
    expect(failed.value).toBe('failed');
    expect(failed.context.errors.at(-1)).toMatchObject({ code: 'CANCELLED', phase: 'data_validation' });
    expect(failed.context.errors.at(-1)!.message).toContain('wrong file uploaded');
    expect(aborted).toBe(true);
  });

  it('ignores events the current state does not accept', () => {
    const { actor } = start();
    const before = actor.getSnapshot();
    expect(before.can({ type: 'RETRY' })).toBe(false);
    expect(before.can({ type: 'APPROVE_MAPPINGS' })).toBe(false);
    expect(before.can({ type: 'START' })).toBe(true);
    actor.send({ type: 'RETRY' });
    expect(actor.getSnapshot()).toBe(before);
  });

  it('waits for APPROVE_MAPPINGS when review was asked for, then re-runs mapping with the overrides', async () => {
    const mappingInputs: unknown[] = [];
    const { actor } = start(
      {
        field_mapping: (input) => {
          mappingInputs.push(input.overrides);
          return outputsFor('field_mapping');
        },
      },
      { options: { reviewMappings: true } },
    );
    actor.send({ type: 'START' });
    const waiting = await waitFor(actor, settled);
    expect(waiting.matches(at('field_mapping', 'review'))).toBe(true);
    expect(waiting.context.review?.reasons[0]).toMatch(/reviewMappings/);
    actor.send({ type: 'APPROVE_MAPPINGS', overrides: { hostname: 'name' } });
    const done = await waitFor(actor, (s) => s.status === 'done');
    expect(done.value).toBe('completed');
    expect(mappingInputs).toEqual([undefined, { hostname: 'name' }]);
  });

  it('stops at the review point when the mapping step reports low confidence', async () => {
    const { actor } = start({
      field_mapping: () => ({ ...outputsFor('field_mapping'), review: { required: true, reasons: ['identity column host_nm mapped at 0.4'] } }),
    });
    actor.send({ type: 'START' });
    const waiting = await waitFor(actor, settled);
    expect(waiting.matches(at('field_mapping', 'review'))).toBe(true);
    expect(waiting.context.review?.reasons).toEqual(['identity column host_nm mapped at 0.4']);
    actor.send({ type: 'APPROVE_MAPPINGS' });
    expect((await waitFor(actor, (s) => s.status === 'done')).value).toBe('completed');
  });

  it('never stops for review when created with reviewMappings: false, and tells the mapping step so', async () => {
    const mappingInputs: unknown[] = [];
    const { actor } = start(
      {
        field_mapping: (input) => {
          mappingInputs.push(input.reviewMappings);
          return { ...outputsFor('field_mapping'), review: { required: true, reasons: ['LOW_CONFIDENCE: weak'] } };
        },
      },
      { options: { reviewMappings: false } },
    );
    actor.send({ type: 'START' });
    expect((await waitFor(actor, (s) => s.status === 'done')).value).toBe('completed');
    expect(mappingInputs).toEqual([false]);
    expect(actor.getSnapshot().context.options).toEqual({ reviewMappings: false });
  });

  it('keeps reviewMappings out of the context and the step input when it was not given', async () => {
    const mappingInputs: object[] = [];
    const { actor } = start({
      field_mapping: (input) => {
        mappingInputs.push(input);
        return outputsFor('field_mapping');
      },
    });
    actor.send({ type: 'START' });
    await waitFor(actor, (s) => s.status === 'done');
    expect(actor.getSnapshot().context.options).toEqual({});
    expect(mappingInputs[0]).not.toHaveProperty('reviewMappings');
  });

  it('keeps the persisted snapshot small', async () => {
    const { actor } = start();
    actor.send({ type: 'START' });
    await waitFor(actor, settled);
    expect(JSON.stringify(actor.getPersistedSnapshot()).length).toBeLessThan(16 * 1024);
  });
});

describe('rehydration', () => {
  for (const phase of STEP_PHASES) {
    it(`restores a workflow persisted while ${phase} runs and completes it`, async () => {
      const first = start({ [phase]: hang() });
      first.actor.send({ type: 'START' });
      await waitFor(first.actor, (s) => s.matches(at(phase, 'running')));
      const persisted = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot()));
      first.actor.stop();

      const ran: Phase[] = [];
      const steps = Object.fromEntries(STEP_PHASES.map((p) => [p, () => (ran.push(p), outputsFor(p))]));
      const machine = workflowMachine.provide({ actors: fakeSteps(steps) });
      const restored = createActor(machine, { snapshot: persisted, input: { workflowId: 'wf-1', name: 'test' } });
      restored.subscribe({ error: () => {} });
      restored.start();
      const done = await waitFor(restored, (s) => s.status === 'done');
      expect(done.value).toBe('completed');
      expect(ran[0]).toBe(phase);
      expect(done.context.attempts[phase]).toBe(1);
    });
  }

  it('restores a workflow persisted mid-backoff and wakes at the original deadline', async () => {
    vi.useFakeTimers({ now: 0 });
    const first = start(
      { data_validation: () => Promise.reject(new TransientError('busy')) },
      { options: { retry: { initialDelayMs: 10_000 } } },
    );
    first.actor.send({ type: 'START' });
    await vi.advanceTimersByTimeAsync(0);
    expect(first.actor.getSnapshot().matches(at('data_validation', 'backoff'))).toBe(true);
    const persisted = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot()));
    first.actor.stop();
    await vi.advanceTimersByTimeAsync(6_000);

    let calls = 0;
    const machine = workflowMachine.provide({
      actors: fakeSteps({ data_validation: () => (calls++, outputsFor('data_validation')) }),
    });
    const restored = createActor(machine, { snapshot: persisted, input: { workflowId: 'wf-1', name: 'test' } });
    restored.subscribe({ error: () => {} });
    restored.start();
    await vi.advanceTimersByTimeAsync(3_999);
    expect(calls).toBe(0);
    expect(restored.getSnapshot().matches(at('data_validation', 'backoff'))).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(restored.getSnapshot().value).toBe('completed');
  });
});
