import { timingSafeEqual } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/**
 * Serves one PGlite over the PostgreSQL wire protocol to any number of `pg` connections.
 *
 * PGlite is a single backend in single-user mode. `@electric-sql/pglite-socket` (0.0.22) queues each
 * protocol *message* on its own, so the Parse/Bind/Execute/Sync of two connections interleave and
 * corrupt each other (upstream issue #1046), and its default admits one connection, answering the
 * second with plain text. This relay queues whole requests instead:
 *
 * - a request is everything a connection sent up to and including Sync, Query, Flush, CopyDone, CopyFail
 *   or a password message,
 *   run on the backend in one go, so no other connection's message lands in the middle;
 * - while the backend is in a transaction (ReadyForQuery 'T' or 'E') or inside an unsynced extended
 *   query, only the connection that opened it is served; the others wait;
 * - a connection that goes away while it holds the backend is rolled back (Sync then ROLLBACK), its
 *   queued requests are dropped, and the others carry on;
 * - a connection whose startup names application_name PRIORITY_APPLICATION (the service's health
 *   probe) goes before the others queued, so a probe waits for the statement running, not for
 *   every request queued behind it;
 * - NotificationResponse messages are taken out of whichever response carries them and sent to the
 *   connections that ran LISTEN on that channel (simple-protocol LISTEN/UNLISTEN is tracked).
 *
 * - COPY FROM STDIN (which takes PGlite's backend down when sent as it is) is served by the relay:
 *   it answers CopyInResponse itself, gathers the CopyData up to CopyDone, then runs the statement
 *   once on the whole data as `copy … from '/dev/blob'`, in the connection's turn like any request.
 *   A statement the backend refuses is refused at CopyDone rather than before the data (PostgreSQL
 *   refuses it at once); the client sees the same ErrorResponse either way.
 *
 * Shared by design, because there is one backend: session settings (SET), named prepared statements,
 * temp tables and the LISTEN set. A statement cannot be cancelled; a dropped client's statement runs
 * to its end before the rollback.
 */
export interface WireServer {
  port: number;
  stats(): { connections: number; queued: number };
  close(): Promise<void>;
}

interface Connection {
  socket: Socket;
  /** Received bytes not yet taken as messages; `incoming` holds the chunks not yet joined to it. */
  buffer: Buffer;
  incoming: Buffer[];
  incomingBytes: number;
  /** Bytes `buffer` must reach before the next message is complete (0: unknown). */
  need: number;
  started: boolean;
  pending: Buffer[];
  closed: boolean;
  channels: Set<string>;
  /** Served before the other connections' queued requests (see PRIORITY_APPLICATION). */
  priority: boolean;
  /** The startup message held back until the client gives the password. */
  awaitingPassword: Buffer | null;
  /** Inside COPY FROM STDIN: the statement to run on the data, and the data gathered so far. */
  copy: { statement: string; data: Buffer[] } | null;
}

interface Request {
  connection: Connection;
  messages: Buffer[];
  /** COPY FROM STDIN: answer CopyInResponse and gather the data (start), or run it on the data. */
  copy?: { start: string } | { data: Buffer[] };
}

/** The application_name of connections served first: the health probe's, whose answer is a liveness signal. */
export const PRIORITY_APPLICATION = 'discovery-flow health';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Messages that wait for the rest of their request (extended query, COPY data); any other type ends one. */
const ACCUMULATE = new Set(['P', 'B', 'D', 'E', 'C', 'd']);

export interface WireOptions {
  host?: string;
  port?: number;
  /**
   * The password every connection must give (cleartext, over loopback) before it reaches the
   * database: other users of the machine can connect to a port on 127.0.0.1 too. None: trust.
   */
  password?: string;
}

export async function serveWire(db: PGlite, options: WireOptions = {}): Promise<WireServer> {
  const connections = new Set<Connection>();
  let queue: Request[] = [];
  /** The connection the backend's open transaction (or unsynced extended query) belongs to. */
  let owner: Connection | null = null;
  let running = false;
  /** Between a request's end and the next pick (see below): nothing starts, but the backend is free. */
  let cooling = false;

  const pump = () => {
    if (running || cooling || queue.length === 0) return;
    const index = owner ? queue.findIndex((r) => r.connection === owner) : Math.max(0, queue.findIndex((r) => r.connection.priority));
    if (index < 0) return;
    const [request] = queue.splice(index, 1);
    running = true;
    void run(request!).finally(() => {
      running = false;
      // The next request only after the event loop has polled the sockets: PGlite executes
      // synchronously, so the bytes that arrived meanwhile (a probe's query, say) are read only
      // then, and must be queued before the next request is picked. A check phase comes right after
      // a poll, so it takes the second one to be sure a poll came between. Meanwhile a socket that
      // closes while it holds the backend queues its rollback (it is not running).
      cooling = true;
      setImmediate(() =>
        setImmediate(() => {
          cooling = false;
          pump();
        }),
      );
    });
  };

  const run = async (request: Request) => {
    const { connection } = request;
    if (request.copy && 'start' in request.copy) {
      // In the connection's turn, so the answer follows whatever it asked before.
      if (!connection.closed) {
        connection.copy = { statement: request.copy.start, data: [] };
        connection.socket.write(COPY_IN_RESPONSE);
      }
      return;
    }
    let response: Buffer;
    try {
      const parts = await db.runExclusive(async () => {
        const out: Uint8Array[] = [];
        const blob = request.copy && 'data' in request.copy ? new Blob(request.copy.data) : undefined;
        if (blob) await (db as unknown as BlobHost)._handleBlob(blob);
        try {
          // execProtocol, not execProtocolRaw: PGlite parses every backend message into a list that
          // only execProtocol empties, so through execProtocolRaw every result ever relayed stayed
          // in this thread's heap (250 MB after one 300k-row workflow, growing with each). Its
          // `data` is the raw answer execProtocolRaw gives; SQL errors stay in it, not thrown.
          for (const message of request.messages) out.push((await db.execProtocol(message, { syncToFs: false, throwOnError: false })).data);
        } finally {
          if (blob) await (db as unknown as BlobHost)._cleanupBlob();
        }
        await db.syncToFs();
        return out;
      });
      response = Buffer.concat(parts);
    } catch (error) {
      // The backend itself failed (not a SQL error, which comes back as an ErrorResponse): drop this
      // client and, whatever it held, end its transaction before anyone else is served.
      // A rollback that fails as well is not retried: the backend is gone and the others get errors.
      const wasRollback = connection.closed;
      owner = wasRollback ? null : connection;
      connection.socket.destroy(error instanceof Error ? error : undefined);
      connection.closed = true;
      connections.delete(connection);
      queue = queue.filter((r) => r.connection !== connection);
      if (!wasRollback) queue.unshift(rollbackOf(connection));
      return;
    }
    const { kept, notifications, status } = split(response);
    if (status === null) owner = connection; // inside an extended query or COPY: keep the backend for it
    else owner = status === 'I' ? null : connection;
    if (!connection.closed && kept.length > 0) connection.socket.write(kept);
    for (const n of notifications) {
      for (const c of connections) if (c.channels.has(n.channel) && !c.closed) c.socket.write(n.bytes);
    }
    if (connection.closed && owner === connection) queue.unshift(rollbackOf(connection));
  };

  const rollbackOf = (connection: Connection): Request => ({ connection, messages: [frame('S', Buffer.alloc(0)), frame('Q', cstring('ROLLBACK'))] });

  const onClose = (connection: Connection) => {
    if (connection.closed) return;
    connection.closed = true;
    connections.delete(connection);
    queue = queue.filter((r) => r.connection !== connection);
    // Mid-request, run() sees `closed` and rolls back; otherwise roll back here if it holds the backend.
    if (owner === connection && !running) queue.unshift(rollbackOf(connection));
    pump();
  };

  const onData = (connection: Connection, data: Buffer) => {
    // A big message (a 1 MiB parameter, a COPY chunk) comes in many socket chunks: they are joined
    // once it is complete, not on every chunk, which copied it over and over.
    connection.incoming.push(data);
    connection.incomingBytes += data.length;
    if (connection.buffer.length + connection.incomingBytes < connection.need) return;
    connection.buffer = connection.buffer.length || connection.incoming.length > 1 ? Buffer.concat([connection.buffer, ...connection.incoming]) : data;
    connection.incoming = [];
    connection.incomingBytes = 0;
    connection.need = 0;
    for (;;) {
      const b = connection.buffer;
      if (!connection.started) {
        if (b.length < 8) return;
        const length = b.readInt32BE(0);
        if (b.length < length) {
          connection.need = length;
          return;
        }
        const code = b.readInt32BE(4);
        connection.buffer = b.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          connection.socket.write('N');
          continue;
        }
        if (code === CANCEL_REQUEST) {
          connection.socket.end(); // no way to interrupt the backend
          return;
        }
        connection.started = true;
        const startup = Buffer.from(b.subarray(0, length));
        connection.priority = startupParameter(startup, 'application_name') === PRIORITY_APPLICATION;
        if (options.password !== undefined) {
          // The backend sees the startup only once the password is right.
          connection.awaitingPassword = startup;
          connection.socket.write(frame('R', int32(3))); // AuthenticationCleartextPassword
          continue;
        }
        queue.push({ connection, messages: [startup] });
        pump();
        continue;
      }
      if (b.length < 5) return;
      const length = 1 + b.readInt32BE(1);
      if (b.length < length) {
        connection.need = length;
        return;
      }
      const message = Buffer.from(b.subarray(0, length));
      connection.buffer = b.subarray(length);
      const type = String.fromCharCode(message[0]!);
      if (connection.awaitingPassword) {
        const startup = connection.awaitingPassword;
        connection.awaitingPassword = null;
        if (type !== 'p' || !samePassword(message.subarray(5, message.length - 1), options.password!)) {
          connection.socket.end(fatal('28P01', 'password authentication failed for the embedded database'));
          onClose(connection);
          return;
        }
        queue.push({ connection, messages: [startup] });
        pump();
        continue;
      }
      if (type === 'X') {
        connection.socket.end();
        onClose(connection);
        return;
      }
      if (connection.copy) {
        const copy = connection.copy;
        if (type === 'd') {
          copy.data.push(message.subarray(5));
          continue;
        }
        if (type === 'H' || type === 'S') continue; // allowed during COPY, and ignored, as PostgreSQL does
        connection.copy = null;
        queue.push(
          type === 'c'
            ? { connection, messages: [frame('Q', cstring(copy.statement))], copy: { data: copy.data } }
            : { connection, messages: [copyFailed(type === 'f' ? message.subarray(5, message.length - 1).toString('utf8') : `unexpected message type ${type}`)] },
        );
        pump();
        continue;
      }
      if (type === 'Q') {
        track(connection, message);
        const statement = copyFromBlob(queryText(message));
        if (statement !== null) {
          queue.push({ connection, messages: [], copy: { start: statement } });
          pump();
          continue;
        }
      }
      connection.pending.push(message);
      if (!ACCUMULATE.has(type)) {
        queue.push({ connection, messages: connection.pending });
        connection.pending = [];
        pump();
      }
    }
  };

  const server = createServer((socket) => {
    const connection: Connection = { socket, buffer: Buffer.alloc(0), incoming: [], incomingBytes: 0, need: 0, started: false, pending: [], closed: false, channels: new Set(), copy: null, priority: false, awaitingPassword: null };
    connections.add(connection);
    socket.setNoDelay(true);
    socket.on('data', (data) => onData(connection, data));
    socket.on('error', () => onClose(connection));
    socket.on('close', () => onClose(connection));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');

  return {
    port: address.port,
    stats: () => ({ connections: connections.size, queued: queue.length }),
    close: async () => {
      for (const c of connections) c.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Let a request in flight and the rollbacks it queues finish before the database closes.
      while (running || queue.length > 0) await new Promise((r) => setTimeout(r, 5));
    },
  };
}

/** A parameter of a StartupMessage (length, protocol version, then name/value C strings). */
function startupParameter(message: Buffer, name: string): string | null {
  const fields = message.subarray(8).toString('utf8').split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return null;
}

function queryText(message: Buffer): string {
  return message.subarray(5, message.length - 1).toString('utf8');
}

/** PGlite's own way to feed COPY FROM a file: the data it reads as `/dev/blob` during one query. */
interface BlobHost {
  _handleBlob(blob?: Blob): Promise<void>;
  _cleanupBlob(): Promise<void>;
}

/**
 * `copy <table> [(columns)] from stdin [options]` as the statement that reads the same data from
 * PGlite's `/dev/blob`, or null for any other statement. PGlite's backend does not survive COPY FROM
 * STDIN over the wire protocol (the connection dies and the server with it), so it never sees one.
 */
export function copyFromBlob(text: string): string | null {
  const m = COPY_IN.exec(text);
  return m ? `${m[1]}'/dev/blob'${m[2]}` : null;
}
const COPY_IN = /^(\s*copy\b[\s\S]*?\bfrom\s+)stdin\b([\s\S]*)$/i;

/** CopyInResponse: text format, no per-column formats (clients read the overall one). */
const COPY_IN_RESPONSE = frame('G', Buffer.from([0, 0, 0]));

/** A client's CopyFail, as the error PostgreSQL answers it with, in the client's own transaction state. */
function copyFailed(reason: string): Buffer {
  const message = `COPY from stdin failed: ${reason}`.replace(/'/g, "''");
  return frame('Q', cstring(`do $fail$ begin raise exception using errcode = 'query_canceled', message = '${message.replace(/\$fail\$/g, '')}'; end $fail$`));
}

function track(connection: Connection, message: Buffer): void {
  const text = queryText(message);
  for (const statement of text.split(';')) {
    const m = /^\s*(un)?listen\s+(\*|"((?:[^"]|"")+)"|([\w$]+))/i.exec(statement);
    if (!m) continue;
    const channel = m[3] !== undefined ? m[3].replace(/""/g, '"') : m[4]?.toLowerCase();
    if (!m[1]) connection.channels.add(channel!);
    else if (m[2] === '*') connection.channels.clear();
    else connection.channels.delete(channel!);
  }
}

function split(response: Buffer): { kept: Buffer; notifications: { channel: string; bytes: Buffer }[]; status: string | null } {
  const notifications: { channel: string; bytes: Buffer }[] = [];
  let status: string | null = null;
  const keep: Buffer[] = [];
  let start = 0;
  let offset = 0;
  while (offset + 5 <= response.length) {
    const type = response[offset]!;
    const end = offset + 1 + response.readInt32BE(offset + 1);
    if (type === 0x41 /* A */) {
      keep.push(response.subarray(start, offset));
      const bytes = response.subarray(offset, end);
      const channelEnd = bytes.indexOf(0, 9);
      notifications.push({ channel: bytes.subarray(9, channelEnd).toString('utf8'), bytes: Buffer.from(bytes) });
      start = end;
    } else if (type === 0x5a /* Z */) {
      status = String.fromCharCode(response[offset + 5]!);
    }
    offset = end;
  }
  keep.push(response.subarray(start));
  return { kept: notifications.length ? Buffer.concat(keep) : response, notifications, status };
}

function samePassword(given: Buffer, password: string): boolean {
  const expected = Buffer.from(password, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** An ErrorResponse of severity FATAL, as a server sends before it closes the connection. */
function fatal(code: string, message: string): Buffer {
  const fields = Buffer.concat([Buffer.from('S'), cstring('FATAL'), Buffer.from('V'), cstring('FATAL'), Buffer.from('C'), cstring(code), Buffer.from('M'), cstring(message), Buffer.from([0])]);
  return frame('E', fields);
}

function int32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(value);
  return out;
}

function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstring(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}
