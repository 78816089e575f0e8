import { describe, expect, it } from 'vitest';
import { createActor, waitFor } from 'xstate';
import { DataError } from '../../src/handlers/errors.ts';
import { EVENT_TYPES, workflowMachine, type WorkflowEvent } from '../../src/machine/machine.ts';
import { ACCEPTED_EVENTS, statusOf } from '../../src/engine/view.ts';
import type { WorkflowStatus } from '../../src/machine/table.ts';
import { TransientError } from '../../src/machine/errors.ts';
import { fakeSteps, hang } from '../support/steps.ts';

describe('accepted events per status', () => {
  it('matches what the machine accepts in every reachable status', async () => {
    const seen = new Set<WorkflowStatus>();
    const check = (snapshot: ReturnType<typeof actor.getSnapshot>) => {
      const status = statusOf(snapshot.value);
      seen.add(status);
      const can = EVENT_TYPES.filter((type) => snapshot.can({ type } as WorkflowEvent));
      expect([...can].sort(), status).toEqual([...ACCEPTED_EVENTS[status]].sort());
    };
    let actor = createActor(
      workflowMachine.provide({
        actors: fakeSteps({
          data_source_analysis: hang(),
        }),
      }),
      { input: { workflowId: 'w', name: 'n' } },
    );
    actor.subscribe({ next: check, error: () => {} });
    actor.start();
    actor.send({ type: 'START' });
    actor.send({ type: 'CANCEL' });
    actor.stop();

    actor = createActor(
      workflowMachine.provide({
        actors: fakeSteps({ data_validation: () => Promise.reject(new TransientError('x')), dependency_analysis: () => Promise.reject(new DataError('X', 'x')) }),
      }),
      { input: { workflowId: 'w', name: 'n', options: { reviewMappings: true, retry: { retries: 0, phases: { data_validation: { retries: 1, initialDelayMs: 1 } } } } } },
    );
    actor.subscribe({ next: check, error: () => {} });
    actor.start();
    actor.send({ type: 'START' });
    await waitFor(actor, (s) => statusOf(s.value) === 'failed');
    actor.stop();

    actor = createActor(workflowMachine.provide({ actors: fakeSteps() }), { input: { workflowId: 'w', name: 'n', options: { reviewMappings: true } } });
    actor.subscribe({ next: check, error: () => {} });
    actor.start();
    actor.send({ type: 'START' });
    await waitFor(actor, (s) => statusOf(s.value) === 'awaiting_review');
    actor.send({ type: 'APPROVE_MAPPINGS' });
    await waitFor(actor, (s) => s.status === 'done');
    expect([...seen].sort()).toEqual(['awaiting_review', 'backoff', 'completed', 'failed', 'pending', 'running']);
  });
});
