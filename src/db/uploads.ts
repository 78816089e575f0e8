import { randomUUID } from 'node:crypto';
import { and, asc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Database } from './client.ts';
import { datasetFiles, uploadParts } from './schema.ts';

/** A file larger than this is stored in parts of this size, before its workflow is created (see uploadParts). */
export const FILE_PART_BYTES = 1 << 20;

/** Parts read per statement. */
const PARTS_PER_READ = 8;

/** A large file's bytes as the database holds them: the parts of one upload, and their total size. */
export interface StoredUpload {
  id: string;
  sizeBytes: number;
}

/** Bytes as base64 text: the database decodes it (a bytea parameter is sent as hex, twice the size). */
export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Reads a file's parts, a few per statement, into one buffer of its recorded size: no list of parts
 * and no concatenation beside it (a 53 MB upload peaked at twice its size here). The buffer is its
 * own (never a slice of Node's pool), so it can be moved to a step worker rather than copied.
 * Parts that do not add up to the recorded size are refused, never returned cut short or overrun.
 */
export async function readPartsInto(what: string, sizeBytes: number, batch: (from: number, to: number) => Promise<{ content: string }[]>): Promise<Buffer> {
  const content = Buffer.allocUnsafeSlow(sizeBytes);
  let length = 0;
  for (let from = 0; ; from += PARTS_PER_READ) {
    const rows = await batch(from, from + PARTS_PER_READ);
    for (const row of rows) {
      const part = Buffer.from(row.content, 'base64');
      if (length + part.length > sizeBytes) throw new Error(`${what} holds more bytes than its recorded size, ${sizeBytes}.`);
      length += part.copy(content, length);
    }
    if (rows.length < PARTS_PER_READ) break;
  }
  if (length !== sizeBytes) throw new Error(`${what} holds ${length} bytes, not its recorded size, ${sizeBytes}.`);
  return content;
}

/** Large uploads, stored a part at a time before the workflow that names them exists. */
export function uploadStore(db: Database) {
  async function putUploadPart(uploadId: string, part: number, bytes: Uint8Array): Promise<void> {
    await db.insert(uploadParts).values({ uploadId, part, content: sql`decode(${base64(bytes)}, 'base64')` });
  }

  const named = sql`exists (select 1 from ${datasetFiles} where ${datasetFiles.uploadId} = ${uploadParts.uploadId})`;

  /** Deletes an upload's parts, unless a workflow's file names them (then they are that workflow's). */
  async function dropUpload(uploadId: string): Promise<void> {
    await db.delete(uploadParts).where(and(eq(uploadParts.uploadId, uploadId), sql`not ${named}`));
  }

  return {
    /** A new upload's id: its parts are written under it with putUploadPart. */
    newUploadId: (): string => randomUUID(),

    /** Writes one part of an upload, in a statement of its own (no transaction held across parts). */
    putUploadPart,

    /** Deletes an upload's parts: it was refused, or its workflow was not created. */
    dropUpload,

    /** Stores bytes already in memory as an upload, a part a statement. */
    async storeUpload(bytes: Uint8Array): Promise<StoredUpload> {
      const id = randomUUID();
      try {
        for (let part = 0; part * FILE_PART_BYTES < bytes.byteLength; part++) {
          await putUploadPart(id, part, bytes.subarray(part * FILE_PART_BYTES, (part + 1) * FILE_PART_BYTES));
        }
      } catch (error) {
        await dropUpload(id).catch(() => {});
        throw error;
      }
      return { id, sizeBytes: bytes.byteLength };
    },

    /** An upload's bytes, in one buffer of its own (see readPartsInto). */
    readUpload(upload: StoredUpload): Promise<Buffer> {
      return readPartsInto(`Upload ${upload.id}`, upload.sizeBytes, (from, to) =>
        db
          .select({ content: sql<string>`encode(${uploadParts.content}, 'base64')` })
          .from(uploadParts)
          .where(and(eq(uploadParts.uploadId, upload.id), gte(uploadParts.part, from), lt(uploadParts.part, to)))
          .orderBy(asc(uploadParts.part)),
      );
    },

    /**
     * Deletes the parts of uploads older than `olderThanMs` that no workflow's file names: a request
     * cut off, or a process that died, between the first part and the workflow's creation.
     */
    async expireUploads(olderThanMs: number): Promise<number> {
      const cutoff = new Date(Date.now() - olderThanMs);
      const deleted = await db
        .delete(uploadParts)
        .where(and(lt(uploadParts.createdAt, cutoff), sql`not ${named}`))
        .returning({ part: uploadParts.part });
      return deleted.length;
    },
  };
}

export type UploadStore = ReturnType<typeof uploadStore>;
