import type { ArtifactStore } from '../db/artifacts.ts';
import type { FileSummary } from './step-logic.ts';
import type { Asset, ClassificationSummary, DependencyEdge, DependencyNode, DependencySummary, MappingOutput, SourceAnalysis, ValidationOutput } from '../handlers/types.ts';

/** An uploaded file as the cache lists it: its summary, and the upload holding its bytes when it was streamed in. */
export type ListedFile = FileSummary & { uploadId?: string };

/** The stored output of each step, by name, with the key it is stored under (overwritten when the step re-runs). */
export const ARTIFACT = {
  analysis: 'source_analysis',
  validation: 'validation',
  mappings: 'field_mappings',
  assets: 'asset_classes',
  dependencies: 'dependencies',
} as const;

/**
 * What asset_classification stores: the summary and how many assets it staged. The assets
 * themselves are staging rows (staged_assets), never one value. A workflow stored by an older
 * version may still carry them here, as `assets`.
 */
export interface ClassificationRecord {
  summary: ClassificationSummary;
  count: number;
  assets?: Asset[];
}

/** What dependency_analysis stores: the summary, the edges' count (the edges are staged) and the nodes that are not assets. */
export interface DependencyRecord {
  summary: DependencySummary;
  count: number;
  /** External and orphan endpoints: the asset nodes are the inventory's assets. */
  nodes: DependencyNode[];
  /** Older versions stored the edges here. */
  edges?: DependencyEdge[];
}

export interface Artifacts {
  analysis: SourceAnalysis;
  validation: ValidationOutput;
  mappings: MappingOutput;
  assets: ClassificationRecord;
  dependencies: DependencyRecord;
}
export type ArtifactName = keyof typeof ARTIFACT;

interface Entry {
  /** Parsed tables: derived from the workflow's files, which never change, so always current. */
  tables?: unknown;
  /** The uploaded files' names, formats and sizes: the first step lists them, their size decides where the steps run. */
  files?: ListedFile[];
  /** Stored artefacts with the version they had when cached: parsed, or as the JSON bytes a step worker made or needs. */
  artifacts: Map<string, Cached>;
}

interface Cached {
  version: number;
  value?: unknown;
  bytes?: Uint8Array;
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
    private readonly store: Pick<ArtifactStore, 'putArtifact' | 'putArtifactBytes' | 'artifactVersion' | 'getArtifactVersioned' | 'getArtifactBytes'>,
    private readonly options: {
      maxWorkflows?: number;
      /** Whether to keep the parsed upload; not when step workers parse it (they need the files). */
      keepTables?: boolean;
    } = {},
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
    while (this.entries.size > (this.options.maxWorkflows ?? 4)) this.entries.delete(this.entries.keys().next().value!);
    return entry;
  }

  /**
   * Drops what is cached for a workflow that stopped running steps (completed, failed, waiting for
   * a person, or no longer held here): a finished 300,000-row export would otherwise keep its upload
   * and outputs in memory until four other workflows pushed them out. A later step reads them back.
   */
  forget(workflowId: string): void {
    this.entries.delete(workflowId);
  }

  /** Whether anything of the workflow is cached. */
  holds(workflowId: string): boolean {
    return this.entries.has(workflowId);
  }

  async tables<T>(workflowId: string, parse: () => Promise<T>): Promise<T> {
    const entry = this.entry(workflowId);
    if (entry.tables === undefined) entry.tables = await parse();
    return entry.tables as T;
  }

  /** The workflow's uploaded files without their content, read once (they never change). */
  async files(workflowId: string, load: () => Promise<ListedFile[]>): Promise<ListedFile[]> {
    const entry = this.entry(workflowId);
    entry.files ??= await load();
    return entry.files;
  }

  /**
   * Keeps what a create learnt of its upload: its files, and the parsed tables when the steps run
   * here (step workers parse the files themselves), so the first step parses nothing.
   */
  primeUpload(workflowId: string, files: ListedFile[], tables: unknown): void {
    const entry = this.entry(workflowId);
    entry.files = files;
    if (this.options.keepTables !== false && tables) entry.tables = tables;
  }

  async put(workflowId: string, key: string, value: unknown): Promise<void> {
    const version = await this.store.putArtifact(workflowId, key, value);
    this.entry(workflowId).artifacts.set(key, { version, value });
  }

  /** Stores an artefact already encoded as JSON (by a step worker), without parsing it here. */
  async putBytes(workflowId: string, key: string, bytes: Uint8Array): Promise<void> {
    const version = await this.store.putArtifactBytes(workflowId, key, bytes);
    this.entry(workflowId).artifacts.set(key, { version, bytes });
  }

  /** The cached copy while the stored version is still the one cached. */
  private async current(workflowId: string, key: string): Promise<Cached | undefined> {
    const cached = this.entry(workflowId).artifacts.get(key);
    if (cached && (await this.store.artifactVersion(workflowId, key)) === cached.version) return cached;
    return undefined;
  }

  async get<T>(workflowId: string, key: string): Promise<T | null> {
    const cached = await this.current(workflowId, key);
    if (cached) {
      if (!('value' in cached)) cached.value = JSON.parse(new TextDecoder().decode(cached.bytes));
      return cached.value as T;
    }
    const stored = await this.store.getArtifactVersioned<T>(workflowId, key);
    this.remember(workflowId, key, stored);
    return stored?.value ?? null;
  }

  /** The artefact's stored JSON bytes, unparsed: what a step worker is handed. */
  async getBytes(workflowId: string, key: string): Promise<Uint8Array | null> {
    const cached = await this.current(workflowId, key);
    if (cached) {
      cached.bytes ??= new Uint8Array(Buffer.from(JSON.stringify(cached.value)));
      return cached.bytes;
    }
    const stored = await this.store.getArtifactBytes(workflowId, key);
    this.remember(workflowId, key, stored);
    return stored?.bytes ?? null;
  }

  private remember(workflowId: string, key: string, stored: Cached | null): void {
    const artifacts = this.entry(workflowId).artifacts;
    if (stored) artifacts.set(key, stored);
    else artifacts.delete(key);
  }
}
