import { and, asc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Database } from './client.ts';
import { artifacts, datasetFileParts, datasetFiles } from './schema.ts';
import { readPartsInto, type UploadStore } from './uploads.ts';

export interface StoredFile {
  name: string;
  format: string | null;
  content: Uint8Array;
}

/** The bytes a workflow keeps: its uploaded files, and the step outputs too big for the snapshot. */
export function artifactStore(db: Database, uploads: Pick<UploadStore, 'readUpload'>) {
  const where = (workflowId: string, key: string) => and(eq(artifacts.workflowId, workflowId), eq(artifacts.key, key));

  /** An artefact's JSON text and version, from whichever column its version of the service wrote. */
  async function readArtifact(workflowId: string, key: string): Promise<{ json: string; version: number } | null> {
    const [row] = await db
      .select({ json: artifacts.json, body: artifacts.body, data: artifacts.data, version: artifacts.version })
      .from(artifacts)
      .where(where(workflowId, key))
      .limit(1);
    if (!row) return null;
    const json = row.json ?? (row.body ? Buffer.from(row.body).toString('utf8') : JSON.stringify(row.data));
    return { json, version: row.version };
  }

  async function getArtifactVersioned<T>(workflowId: string, key: string): Promise<{ value: T; version: number } | null> {
    const row = await readArtifact(workflowId, key);
    return row && { value: JSON.parse(row.json) as T, version: row.version };
  }

  /** Stores an artefact's JSON text and returns its new version. */
  async function putArtifactJson(workflowId: string, key: string, json: string): Promise<number> {
    const [row] = await db
      .insert(artifacts)
      .values({ workflowId, key, json, body: null, data: null, version: 1 })
      .onConflictDoUpdate({
        target: [artifacts.workflowId, artifacts.key],
        set: { json, body: null, data: null, version: sql`${artifacts.version} + 1`, updatedAt: new Date() },
      })
      .returning({ version: artifacts.version });
    return row!.version;
  }

  /** A file an older version stored in dataset_file_parts (see readPartsInto). */
  function readParts(workflowId: string, idx: number, sizeBytes: number): Promise<Buffer> {
    return readPartsInto(`File ${idx} of workflow ${workflowId}`, sizeBytes, (from, to) =>
      db
        .select({ content: sql<string>`encode(${datasetFileParts.content}, 'base64')` })
        .from(datasetFileParts)
        .where(and(eq(datasetFileParts.workflowId, workflowId), eq(datasetFileParts.idx, idx), gte(datasetFileParts.part, from), lt(datasetFileParts.part, to)))
        .orderBy(asc(datasetFileParts.part)),
    );
  }

  return {
    async loadFiles(workflowId: string): Promise<StoredFile[]> {
      // As base64 text, for the reason createWorkflow writes them so (PGlite's bytea results: 26 MB in 3.7 s; base64 0.4 s).
      const rows = await db
        .select({
          idx: datasetFiles.idx,
          name: datasetFiles.name,
          format: datasetFiles.format,
          sizeBytes: datasetFiles.sizeBytes,
          uploadId: datasetFiles.uploadId,
          content: sql<string | null>`encode(${datasetFiles.content}, 'base64')`,
        })
        .from(datasetFiles)
        .where(eq(datasetFiles.workflowId, workflowId))
        .orderBy(asc(datasetFiles.idx));
      const files: StoredFile[] = [];
      for (const f of rows) {
        const content =
          f.content !== null
            ? Buffer.from(f.content, 'base64')
            : f.uploadId !== null
              ? await uploads.readUpload({ id: f.uploadId, sizeBytes: f.sizeBytes })
              : await readParts(workflowId, f.idx, f.sizeBytes);
        files.push({ name: f.name, format: f.format, content });
      }
      return files;
    },

    /** The workflow's files without their content. */
    async listFiles(workflowId: string): Promise<{ name: string; format: string | null; sizeBytes: number; uploadId: string | null }[]> {
      return db
        .select({ name: datasetFiles.name, format: datasetFiles.format, sizeBytes: datasetFiles.sizeBytes, uploadId: datasetFiles.uploadId })
        .from(datasetFiles)
        .where(eq(datasetFiles.workflowId, workflowId))
        .orderBy(asc(datasetFiles.idx));
    },

    /** Stores an artefact (as JSON text) and returns its new version. */
    putArtifact(workflowId: string, key: string, data: unknown): Promise<number> {
      return putArtifactJson(workflowId, key, JSON.stringify(data));
    },

    /** Stores an artefact a step worker already encoded (UTF-8 JSON) and returns its new version. */
    putArtifactBytes(workflowId: string, key: string, bytes: Uint8Array): Promise<number> {
      return putArtifactJson(workflowId, key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    },

    /** An artefact as UTF-8 JSON bytes, for a step worker, which parses it itself. */
    async getArtifactBytes(workflowId: string, key: string): Promise<{ bytes: Uint8Array; version: number } | null> {
      const row = await readArtifact(workflowId, key);
      return row && { bytes: Buffer.from(row.json, 'utf8'), version: row.version };
    },

    async getArtifact<T>(workflowId: string, key: string): Promise<T | null> {
      return (await getArtifactVersioned<T>(workflowId, key))?.value ?? null;
    },

    getArtifactVersioned,

    /** The artefact's current version without its payload: a cheap check of a cached copy. */
    async artifactVersion(workflowId: string, key: string): Promise<number | null> {
      const [row] = await db.select({ version: artifacts.version }).from(artifacts).where(where(workflowId, key)).limit(1);
      return row?.version ?? null;
    },
  };
}

export type ArtifactStore = ReturnType<typeof artifactStore>;
