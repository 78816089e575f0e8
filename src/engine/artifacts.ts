import type { ArtifactStore } from '../db/artifacts.ts';
import type { ClassificationOutput, DependencyOutput, MappingOutput, SourceAnalysis, ValidationOutput } from '../handlers/types.ts';

/** The stored output of each step, by name, with the key it is stored under (overwritten when the step re-runs). */
export const ARTIFACT = {
  analysis: 'source_analysis',
  validation: 'validation',
  mappings: 'field_mappings',
  assets: 'asset_classes',
  dependencies: 'dependencies',
} as const;

export interface Artifacts {
  analysis: SourceAnalysis;
  validation: ValidationOutput;
  mappings: MappingOutput;
  assets: ClassificationOutput;
  dependencies: DependencyOutput;
}
export type ArtifactName = keyof typeof ARTIFACT;

interface Entry {
  /** Parsed tables: derived from the workflow's files, which never change, so always current. */
  tables?: unknown;
  /** Stored artefacts with the version they had when cached. */
  artifacts: Map<string, { version: number; value: unknown }>;
}

/**
 * Keeps the artefacts of the few most recent workflows in memory, so a step does not re-read and
 * re-parse what the step before it just wrote. The database stays the truth: a cached artefact is
 * used only while its stored version is unchanged (one tiny query), so another instance's writes
 * or a restart are always seen.
 */
export class ArtifactCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: Pick<ArtifactStore, 'putArtifact' | 'artifactVersion' | 'getArtifactVersioned'>,
    private readonly maxWorkflows = 4,
  ) {}

  private entry(workflowId: string): Entry {
    let entry = this.entries.get(workflowId);
    if (entry) {
      // Move to the back: most recently used.
      this.entries.delete(workflowId);
    } else {
      entry = { artifacts: new Map() };
    }
    this.entries.set(workflowId, entry);
    while (this.entries.size > this.maxWorkflows) this.entries.delete(this.entries.keys().next().value!);
    return entry;
  }

  async tables<T>(workflowId: string, parse: () => Promise<T>): Promise<T> {
    const entry = this.entry(workflowId);
    if (entry.tables === undefined) entry.tables = await parse();
    return entry.tables as T;
  }

  /** Keeps tables parsed at upload, so the first step does not parse the same files again. */
  primeTables(workflowId: string, tables: unknown): void {
    this.entry(workflowId).tables = tables;
  }

  async put(workflowId: string, key: string, value: unknown): Promise<void> {
    const version = await this.store.putArtifact(workflowId, key, value);
    this.entry(workflowId).artifacts.set(key, { version, value });
  }

  async get<T>(workflowId: string, key: string): Promise<T | null> {
    const entry = this.entry(workflowId);
    const cached = entry.artifacts.get(key);
    if (cached && (await this.store.artifactVersion(workflowId, key)) === cached.version) return cached.value as T;
    const stored = await this.store.getArtifactVersioned<T>(workflowId, key);
    if (stored) entry.artifacts.set(key, stored);
    else entry.artifacts.delete(key);
    return stored?.value ?? null;
  }
}
