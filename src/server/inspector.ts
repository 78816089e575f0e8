import { connect, createServer } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import type { AnyActorRef, AnyEventObject, InspectionEvent } from 'xstate';
import { sanitizeEvent } from '../engine/events.ts';
import type { Logger } from '../engine/logger.ts';
import type { JsonObject } from '../machine/machine.ts';

export interface InspectorOptions {
  /** Port of the relay: HTTP for the page to open, WebSocket for the events (INSPECT_PORT). */
  port: number;
  logger: Logger;
}

export interface Inspector {
  /** The engine's `inspect` dep: forwards actor, event and snapshot inspection events. */
  inspect(event: InspectionEvent): void;
  /**
   * Makes an actor and its children known to the inspector. The engine observes a system only
   * after the root actor exists, so it misses the root's (and a restored snapshot's children's)
   * own `@xstate.actor` events; call this for every actor it attaches, before it starts.
   */
  announce(actor: AnyActorRef): void;
  /** The page a person opens: it embeds Stately's inspector and feeds it from the relay. */
  url: string;
  /** The relay's WebSocket; any client connected to it receives every inspection message. */
  wsUrl: string;
  stop(): Promise<void>;
}

const FORWARDED: ReadonlySet<InspectionEvent['type']> = new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);

/** Errors become name, code and message (an Error serialises to `{}`); secrets are redacted as in the audit trail. */
function readableEvent(event: AnyEventObject): AnyEventObject {
  return { ...(sanitizeEvent(event) as JsonObject), type: event.type };
}

// The package's relay server gives no handle on its socket, so a busy port would surface as an
// unhandled 'error' event; probing first turns it into a start-up error that names the setting.
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new Error(`INSPECT_PORT ${port} is in use: choose another port for the Stately inspector.`) : error);
    });
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

/** Resolves once nothing accepts connections on the port any more (or after a second). */
async function portReleased(port: number): Promise<void> {
  const deadline = Date.now() + 1_000;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (!open) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function rootOf(actor: AnyActorRef): AnyActorRef {
  let root = actor;
  while (root._parent) root = root._parent;
  return root;
}

/** Starts the relay server of @statelyai/inspect and an inspector client that feeds it. */
export async function startInspector({ port, logger }: InspectorOptions): Promise<Inspector> {
  await assertPortFree(port);
  const server = createInspectorServer({ port, autoOpen: false });
  const wsUrl = `ws://localhost:${port}`;
  // The client is in-process; 127.0.0.1 avoids depending on how localhost resolves.
  const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}`, sanitizeEvent: readableEvent });
  const observer = inspector.inspect;
  let stopped = false;

  const announceTree = (actor: AnyActorRef, rootId: string): void => {
    observer.next?.({ type: '@xstate.actor', actorRef: actor, rootId });
    const snapshot = actor.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> } | undefined;
    for (const child of Object.values(snapshot?.children ?? {})) if (child) announceTree(child, rootId);
  };

  const url = `http://localhost:${port}`;
  logger.info({ url, wsUrl }, 'Stately inspector: open the url in a browser to watch every workflow actor');
  return {
    url,
    wsUrl,
    inspect(event) {
      // Microsteps and actions are not drawn by the inspector; skip their serialisation.
      if (!stopped && FORWARDED.has(event.type)) observer.next?.(event);
    },
    announce(actor) {
      if (!stopped) announceTree(actor, rootOf(actor).sessionId);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      inspector.stop();
      server.stop();
      await portReleased(port);
    },
  };
}
