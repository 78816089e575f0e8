import { threadId } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { StoredFile } from '../db/artifacts.ts';
import { isAppError } from '../errors.ts';
import type { Table } from '../handlers/types.ts';
import type { StepOutput } from '../machine/machine.ts';
import type { ArtifactName } from './artifacts.ts';
import { COMPUTE_STEPS, encodeWorkflowInventory, type ComputePhase, type FileSummary, type InventoryParts, type StepIo, type StepRequest } from './step-logic.ts';
import { readFiles } from './uploads.ts';

/** One step for a worker thread: bytes in (the upload, the artefacts it needs as stored JSON), bytes out. */
export interface StepTask {
  phase: ComputePhase;
  request: StepRequest;
  files: StoredFile[];
  artifacts: Partial<Record<ArtifactName, Uint8Array>>;
}

/** database_integration's encoding, in a worker: the stored assets and edges in, COPY text out. */
export interface InventoryTask {
  phase: 'database_integration';
  workflowId: string;
  artifacts: { assets: Uint8Array; dependencies: Uint8Array };
}

/** An artefact to store as-is: already JSON-encoded by the worker. */
export interface ArtifactSave {
  key: string;
  bytes: Uint8Array;
}

/** An error as it crosses the thread boundary; structured clone would keep only its message. */
export interface SerialisedError {
  name: string;
  message: string;
  app?: { code: string; status: number; hint: string | undefined; details: Record<string, unknown>; retryable: boolean };
}

/** What piscina posts back: the result, with the encoded artefacts' buffers moved rather than copied. */
export interface MovedResult {
  readonly [transferableSymbol]: ArrayBuffer[];
  readonly [valueSymbol]: StepTaskResult;
}

export type StepTaskResult =
  | { ok: true; summary: StepOutput; saves: ArtifactSave[]; threadId: number }
  | { ok: false; error: SerialisedError; threadId: number };

export type InventoryTaskResult =
  | { ok: true; inventory: InventoryParts<Uint8Array>[]; threadId: number }
  | { ok: false; error: SerialisedError; threadId: number };

// Consecutive steps of a workflow often land on the same worker: keep its parsed upload for them.
// A workflow's files never change, so an entry is never stale.
const MAX_PARSED_WORKFLOWS = 2;
const parsed = new Map<string, Promise<Table[]>>();

function parsedTables(workflowId: string, files: StoredFile[]): Promise<Table[]> {
  let tables = parsed.get(workflowId);
  if (tables) parsed.delete(workflowId);
  else {
    tables = readFiles(files);
    tables.catch(() => parsed.delete(workflowId));
  }
  parsed.set(workflowId, tables);
  while (parsed.size > MAX_PARSED_WORKFLOWS) parsed.delete(parsed.keys().next().value!);
  return tables;
}

export function serialiseError(error: unknown): SerialisedError {
  if (isAppError(error)) {
    const { name, message, code, status, hint, details, retryable } = error;
    return { name, message, app: { code, status, hint, details, retryable } };
  }
  return error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
}

function parseBytes(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

/** Encodes a workflow's inventory as COPY text parts, moved back rather than copied (hundreds of megabytes at 300k rows). */
function runInventoryTask(task: InventoryTask): unknown {
  try {
    const assets = parseBytes(task.artifacts.assets) as Parameters<typeof encodeWorkflowInventory>[1];
    const dependencies = parseBytes(task.artifacts.dependencies) as Parameters<typeof encodeWorkflowInventory>[2];
    const encoder = new TextEncoder();
    // Each part is encoded as it is made, so its text can go before the next one is built.
    const inventory = encodeWorkflowInventory(task.workflowId, assets, dependencies).map((table) => {
      const parts: Uint8Array[] = [];
      for (const part of table.parts) parts.push(encoder.encode(part));
      return { ...table, parts };
    });
    const result: InventoryTaskResult = { ok: true, inventory, threadId };
    return move({ [transferableSymbol]: inventory.flatMap((t) => t.parts.map((p) => p.buffer as ArrayBuffer)), [valueSymbol]: result });
  } catch (error) {
    return { ok: false, error: serialiseError(error), threadId };
  }
}

/** The piscina handler: runs one step body on the task's bytes; failures come back as data, never thrown. */
export async function runStepTask(task: StepTask | InventoryTask): Promise<unknown> {
  if (task.phase === 'database_integration') return runInventoryTask(task);
  const saves: ArtifactSave[] = [];
  const encoder = new TextEncoder();
  const io: StepIo = {
    load: async (name) => {
      if (name === 'tables') return parsedTables(task.request.workflowId, task.files) as never;
      const bytes = task.artifacts[name as ArtifactName];
      // The main thread sends every artefact the step needs, or fails the step before sending it.
      if (!bytes) throw new Error(`The task for ${task.phase} carries no ${name} artefact.`);
      return parseBytes(bytes) as never;
    },
    files: async (): Promise<FileSummary[]> => task.files.map((f) => ({ name: f.name, format: f.format, bytes: f.content.byteLength })),
    save: async (key, value) => {
      saves.push({ key, bytes: encoder.encode(JSON.stringify(value)) });
    },
  };
  try {
    const summary = await COMPUTE_STEPS[task.phase].run(task.request, io);
    const result: StepTaskResult = { ok: true, summary, saves, threadId };
    // Moved, not copied: the encoded artefacts can be tens of megabytes.
    const moved: MovedResult = { [transferableSymbol]: saves.map((s) => s.bytes.buffer as ArrayBuffer), [valueSymbol]: result };
    return move(moved) as MovedResult;
  } catch (error) {
    return { ok: false, error: serialiseError(error), threadId };
  }
}
