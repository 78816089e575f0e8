import { and, asc, eq, sql } from 'drizzle-orm';
import type { Database } from './client.ts';
import { artifacts, datasetFiles } from './schema.ts';

export interface StoredFile {
  name: string;
  format: string | null;
  content: Uint8Array;
}

/** The bytes a workflow keeps: its uploaded files, and the step outputs too big for the snapshot. */
export function artifactStore(db: Database) {
  const where = (workflowId: string, key: string) => and(eq(artifacts.workflowId, workflowId), eq(artifacts.key, key));

  async function getArtifactVersioned<T>(workflowId: string, key: string): Promise<{ value: T; version: number } | null> {
    const [row] = await db.select({ body: artifacts.body, data: artifacts.data, version: artifacts.version }).from(artifacts).where(where(workflowId, key)).limit(1);
    if (!row) return null;
    const value = (row.body ? JSON.parse(Buffer.from(row.body).toString('utf8')) : row.data) as T;
    return { value, version: row.version };
  }

  /** Stores an artefact's JSON bytes as they are and returns its new version. */
  async function putArtifactBytes(workflowId: string, key: string, body: Uint8Array): Promise<number> {
    const [row] = await db
      .insert(artifacts)
      .values({ workflowId, key, body, data: null, version: 1 })
      .onConflictDoUpdate({
        target: [artifacts.workflowId, artifacts.key],
        set: { body, data: null, version: sql`${artifacts.version} + 1`, updatedAt: new Date() },
      })
      .returning({ version: artifacts.version });
    return row!.version;
  }

  return {
    async loadFiles(workflowId: string): Promise<StoredFile[]> {
      return db
        .select({ name: datasetFiles.name, format: datasetFiles.format, content: datasetFiles.content })
        .from(datasetFiles)
        .where(eq(datasetFiles.workflowId, workflowId))
        .orderBy(asc(datasetFiles.idx));
    },

    /** The workflow's files without their content. */
    async listFiles(workflowId: string): Promise<{ name: string; format: string | null; sizeBytes: number }[]> {
      return db
        .select({ name: datasetFiles.name, format: datasetFiles.format, sizeBytes: datasetFiles.sizeBytes })
        .from(datasetFiles)
        .where(eq(datasetFiles.workflowId, workflowId))
        .orderBy(asc(datasetFiles.idx));
    },

    /** Stores an artefact (as JSON bytes) and returns its new version. */
    putArtifact(workflowId: string, key: string, data: unknown): Promise<number> {
      return putArtifactBytes(workflowId, key, new Uint8Array(Buffer.from(JSON.stringify(data))));
    },

    putArtifactBytes,

    async getArtifact<T>(workflowId: string, key: string): Promise<T | null> {
      return (await getArtifactVersioned<T>(workflowId, key))?.value ?? null;
    },

    getArtifactVersioned,

    /** The artefact as its stored JSON bytes, unparsed: what a step worker thread is handed. */
    async getArtifactBytes(workflowId: string, key: string): Promise<{ bytes: Uint8Array; version: number } | null> {
      const [row] = await db.select({ body: artifacts.body, data: artifacts.data, version: artifacts.version }).from(artifacts).where(where(workflowId, key)).limit(1);
      if (!row) return null;
      return { bytes: row.body ?? new Uint8Array(Buffer.from(JSON.stringify(row.data))), version: row.version };
    },

    /** The artefact's current version without its payload: a cheap check of a cached copy. */
    async artifactVersion(workflowId: string, key: string): Promise<number | null> {
      const [row] = await db.select({ version: artifacts.version }).from(artifacts).where(where(workflowId, key)).limit(1);
      return row?.version ?? null;
    },
  };
}

export type ArtifactStore = ReturnType<typeof artifactStore>;
