import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { WorkflowStore } from '../../src/db/store.ts';
import { WorkflowEngine } from '../../src/engine/engine.ts';
import { DataError } from '../../src/handlers/errors.ts';
import type { Phase } from '../../src/machine/table.ts';
import { startInspector, type Inspector } from '../../src/server/inspector.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps, hang, type StepBehaviour } from '../support/steps.ts';

const file = { name: 'servers.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') };

/** The parts of @statelyai/inspect's messages the assertions read. */
interface Message {
  type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';
  sessionId: string;
  rootId?: string;
  parentId?: string;
  name?: string;
  definition?: string;
  event?: { type: string; error?: { code?: string; message?: string } };
  snapshot?: { status?: string; value?: unknown; context?: { workflowId?: string } };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function until<T>(probe: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A client of the relay, as the browser page is: it records every message it is sent. */
async function connectReceiver(url: string): Promise<{ messages: Message[]; close(): Promise<void> }> {
  const socket = new WebSocket(url);
  const messages: Message[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as Message));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    messages,
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once('close', () => resolve());
        socket.close();
      }),
  };
}

/** The session ids of the root actors the inspector was told about for one workflow. */
const rootSessions = (messages: Message[], workflowId: string): string[] =>
  messages.filter((m) => m.type === '@xstate.actor' && m.snapshot?.context?.workflowId === workflowId && m.parentId === undefined).map((m) => m.sessionId);

const bySession = (messages: Message[], sessionId: string) => messages.filter((m) => m.sessionId === sessionId);

describe('Stately inspector', () => {
  let store: WorkflowStore;
  let inspector: Inspector;
  let receiver: Awaited<ReturnType<typeof connectReceiver>>;
  const engines: WorkflowEngine[] = [];

  const engineWith = (steps: Partial<Record<Phase, StepBehaviour>> = {}) => {
    const engine = new WorkflowEngine({
      store,
      steps: fakeSteps(steps),
      logger: testLogger(),
      inspect: inspector.inspect,
      onActorAttached: (actor) => inspector.announce(actor),
    });
    engines.push(engine);
    return engine;
  };
  const finished = (id: string) => until(() => store.getWorkflow(id), (row) => row?.status === 'completed' || row?.status === 'failed');

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    inspector = await startInspector({ port: await freePort(), logger: testLogger() });
    receiver = await connectReceiver(inspector.wsUrl);
  });
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.stop()));
    await receiver.close();
    await inspector.stop();
  });

  it('serves a page that embeds the Stately inspector and relays from its WebSocket', async () => {
    expect(inspector.url).toBe(inspector.wsUrl.replace('ws://', 'http://'));
    const html = await (await fetch(inspector.url)).text();
    expect(html).toContain('https://stately.ai/inspect');
    expect(html).toContain(inspector.wsUrl);
  });

  it('sends actor, event and snapshot messages for a workflow run', async () => {
    const engine = engineWith();
    const { id } = await engine.create({ name: 'inspected', files: [file], autoStart: true });
    expect((await finished(id))!.status).toBe('completed');

    const [session] = await until(() => rootSessions(receiver.messages, id), (s) => s.length === 1);
    const own = await until(
      () => bySession(receiver.messages, session!),
      (ms) => ms.some((m) => m.type === '@xstate.snapshot' && m.snapshot?.value === 'completed'),
    );
    const actor = own.find((m) => m.type === '@xstate.actor')!;
    expect(actor).toMatchObject({ name: 'workflow', rootId: session });
    expect(JSON.parse(actor.definition!)).toMatchObject({ id: 'workflow', initial: 'pending' });
    // The inspector must know the actor before it draws any of its snapshots.
    expect(own[0]!.type).toBe('@xstate.actor');

    const events = own.filter((m) => m.type === '@xstate.event').map((m) => m.event!.type);
    // START is stored with the create (one statement), so the live actor begins in the first step.
    expect(events).toContain('xstate.done.actor.step.data_source_analysis');
    const values = own.filter((m) => m.type === '@xstate.snapshot').map((m) => m.snapshot!.value);
    expect(values).toContainEqual({ data_validation: 'running' });
    expect(values.at(-1)).toBe('completed');

    // The step actors are children of the workflow in the same tree.
    const steps = receiver.messages.filter((m) => m.type === '@xstate.actor' && m.parentId === session);
    expect(steps.length).toBeGreaterThanOrEqual(6);
    expect(steps.every((m) => m.rootId === session)).toBe(true);
  });

  it('announces a workflow restored by another engine and follows it to the end', async () => {
    const first = engineWith({ data_validation: hang() });
    const { id } = await first.create({ name: 'restored', files: [file], autoStart: true });
    await until(() => store.getWorkflow(id), (row) => row?.phase === 'data_validation');
    await first.stop();

    const second = engineWith();
    expect(await second.restoreAll()).toEqual({ restored: 1, skipped: 0 });
    expect((await finished(id))!.status).toBe('completed');

    const sessions = await until(() => rootSessions(receiver.messages, id), (s) => s.length === 2);
    const restored = sessions[1]!;
    const own = await until(
      () => bySession(receiver.messages, restored),
      (ms) => ms.some((m) => m.type === '@xstate.snapshot' && m.snapshot?.value === 'completed'),
    );
    expect(own[0]!.type).toBe('@xstate.actor');
    expect(own.filter((m) => m.type === '@xstate.event').map((m) => m.event!.type)).toContain('xstate.done.actor.step.data_validation');
    const values = own.filter((m) => m.type === '@xstate.snapshot').map((m) => m.snapshot!.value);
    expect(values[0]).toEqual({ data_validation: 'running' });
    expect(values.at(-1)).toBe('completed');
    // The step restored with the snapshot is announced too, under the restored root.
    expect(receiver.messages.some((m) => m.type === '@xstate.actor' && m.parentId === restored && m.name === 'step.data_validation')).toBe(true);
  });

  it('shows a failed step with its error message, not an empty object', async () => {
    const engine = engineWith({
      data_source_analysis: () => {
        throw new DataError('NO_HEADER', 'the export has no header row');
      },
    });
    const { id } = await engine.create({ name: 'broken', files: [file], autoStart: true });
    expect((await finished(id))!.status).toBe('failed');
    const [session] = await until(() => rootSessions(receiver.messages, id), (s) => s.length === 1);
    const failure = await until(
      () => bySession(receiver.messages, session!).find((m) => m.type === '@xstate.event' && m.event?.type.startsWith('xstate.error.actor.')),
      (m) => m !== undefined,
    );
    expect(failure!.event!.error).toMatchObject({ code: 'NO_HEADER', message: 'the export has no header row' });
  });

  it('refuses to start on a port that is taken, naming the setting', async () => {
    await expect(startInspector({ port: Number(new URL(inspector.url).port), logger: testLogger() })).rejects.toThrow(/INSPECT_PORT/);
  });
});
