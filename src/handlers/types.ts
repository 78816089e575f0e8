// The contract between the pure discovery handlers and the engine's step adapter.
// Handlers take these values and return them; they never touch xstate or a database.

export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

export type FileFormat = 'csv' | 'json' | 'xlsx';

/** One uploaded file, as bytes (the API decodes base64 or text before it gets here). */
export interface InputFile {
  name: string;
  format?: FileFormat;
  content: Uint8Array;
}

/** One logical table parsed from a file. A NetBox fixture yields several (devices, VMs, cables...). */
export interface Table {
  /** Unique within a workflow: the file name, or `file#model` for a table inside a file. */
  id: string;
  file: string;
  format: FileFormat | 'netbox';
  encoding: string;
  delimiter?: string;
  columns: string[];
  rows: Row[];
}

export type SourceSystem =
  | 'servicenow'
  | 'azure_migrate'
  | 'aws_migration_factory'
  | 'netbox'
  | 'rvtools'
  | 'generic';

export type TableRole = 'assets' | 'relations' | 'flows';

export type ColumnType = 'string' | 'integer' | 'number' | 'boolean' | 'date' | 'empty' | 'mixed';

export type ValuePattern =
  | 'ipv4'
  | 'ipv6'
  | 'fqdn'
  | 'mac'
  | 'date'
  | 'number_with_separators'
  | 'number_with_unit'
  | 'email'
  | 'url'
  | 'key_value_list';

/** What one value looks like, as evidence of what its column holds. */
export type ValueKind =
  | 'ipv4'
  | 'ipv6'
  | 'fqdn'
  | 'host'
  | 'os'
  | 'environment'
  | 'mac'
  | 'serial'
  | 'integer'
  | 'number'
  | 'number_with_unit'
  | 'date'
  | 'boolean'
  | 'key'
  | 'email'
  | 'url'
  | 'key_value'
  | 'class'
  | 'relation_type';

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  /** Share of empty cells, 0..1. */
  emptyShare: number;
  distinct: number;
  examples: string[];
  /** Patterns matched by a clear majority of the non-empty values. */
  patterns: ValuePattern[];
  /** Non-empty values read for the shares below (an even sample of the column). */
  sampled: number;
  /** Share of the sampled values of each kind (kinds with no value left out), 0..1. */
  kinds: Partial<Record<ValueKind, number>>;
}

export interface TableAnalysis {
  table: string;
  file: string;
  format: Table['format'];
  encoding: string;
  delimiter?: string;
  rows: number;
  columns: number;
  profile: ColumnProfile[];
  source: { system: SourceSystem; confidence: number };
  role: TableRole;
  /** For a relations table: which columns hold the two ends and the type, and why it is one. */
  relation?: RelationColumns;
  /** Columns whose values other tables' relations point at: this table's keys. */
  keyColumns?: string[];
}

export interface RelationColumns {
  parent: string;
  child: string;
  type: string | null;
  /** For each end whose values name records of another table: which table and column. */
  references: RelationReference[];
  evidence: string[];
}

export interface RelationReference {
  /** The relation table's column. */
  column: string;
  /** Share of its distinct values found in the other table, 0..1. */
  share: number;
  table: string;
  /** The other table's column that holds most of them. */
  keyColumn: string;
}

export interface SourceAnalysis {
  tables: TableAnalysis[];
  /** The dominant source system across tables. */
  source: { system: SourceSystem; confidence: number };
}

export type Severity = 'error' | 'warning';

export interface Finding {
  table: string;
  /** 0-based index into Table.rows. */
  row: number;
  column?: string;
  severity: Severity;
  code: string;
  message: string;
}

export interface QuarantinedRecord {
  table: string;
  row: number;
  record: Row;
  findings: Finding[];
}

export interface TableValidation {
  table: string;
  records: number;
  valid: number;
  errors: number;
  warnings: number;
  quarantined: number;
  /** 0..100 */
  qualityScore: number;
}

export interface ValidationOutput {
  tables: TableValidation[];
  findings: Finding[];
  quarantine: QuarantinedRecord[];
  /** Set when the records were read with a reviewer's mappings (after APPROVE_MAPPINGS with overrides). */
  reviewed?: boolean;
}

export const CANONICAL_FIELDS = [
  'source_key',
  'name',
  'hostname',
  'fqdn',
  'ip_addresses',
  'mac_address',
  'serial_number',
  'asset_class',
  'cpu_cores',
  'memory_mb',
  'disk_gb',
  'os_name',
  'os_version',
  'os_family',
  'environment',
  'application',
  'business_service',
  'owner',
  'support_group',
  'criticality',
  'location',
  'operational_status',
  'lifecycle_status',
  'manufacturer',
  'model',
  'cost_center',
  'tags',
  'virtualization_host',
  'cluster',
  'rel_parent',
  'rel_child',
  'rel_type',
  'src_host',
  'src_ip',
  'dst_host',
  'dst_ip',
  'dst_port',
  'process',
] as const;
export type CanonicalField = (typeof CANONICAL_FIELDS)[number];
/** Columns that map to no canonical field are kept under the asset's `attributes`. */
export type MappingTarget = CanonicalField | 'attributes';

export type MappingReason = 'name' | 'synonym' | 'similarity' | 'value_pattern' | 'content' | 'override' | 'none';

/** Which evidence settled a mapping: the header, the values, both, the table's content (relations) or a person. */
export type MappingDecision = 'header' | 'values' | 'header_and_values' | 'content' | 'override' | 'none';

export interface FieldMapping {
  /** Table id. */
  file: string;
  source: string;
  target: MappingTarget;
  confidence: number;
  reason: MappingReason;
  decidedBy: MappingDecision;
  /** The header readings, value shares and conflicts that led here, deciding evidence first. */
  evidence: string[];
}

/** Reviewer overrides: `{ "column": "target" }` or `{ "table id:column": "target" }`. */
export type MappingOverrides = Record<string, MappingTarget>;

export interface MappingOutput {
  mappings: FieldMapping[];
  /** True when a reviewer should look: an identity or type column below the confidence threshold, or no identity column. */
  lowConfidence: boolean;
  /** Human-readable reasons a reviewer should look, empty when none. */
  reviewReasons: string[];
  /** Tables with records but no column that identifies them (an asset's identity, an edge's two ends). */
  unidentified: string[];
}

export const ASSET_TYPES = [
  'server',
  'database',
  'application',
  'network_device',
  'storage',
  'cluster',
  'facility',
  'end_user_device',
  'service',
  'software',
  'unknown',
] as const;
export type AssetType = (typeof ASSET_TYPES)[number];

export type OsFamily = 'windows' | 'linux' | 'unix' | 'other';
export type Environment = 'production' | 'staging' | 'test' | 'development' | 'dr' | 'unknown';

/** A normalised asset. Canonical fields keep their snake_case names. */
export interface Asset {
  /** Stable within a workflow: derived from source_key, else fqdn/hostname/name/ip. */
  asset_key: string;
  source_table: string;
  source_row: number;
  source_key: string | null;
  name: string | null;
  hostname: string | null;
  fqdn: string | null;
  ip_addresses: string[];
  mac_address: string | null;
  serial_number: string | null;
  asset_class: string | null;
  asset_type: AssetType;
  /** virtual | physical for servers; router | switch | firewall | load_balancer for network gear; rack | ups | pdu for facility... */
  asset_subtype: string | null;
  cpu_cores: number | null;
  memory_mb: number | null;
  disk_gb: number | null;
  os_name: string | null;
  os_version: string | null;
  os_family: OsFamily | null;
  environment: Environment;
  application: string | null;
  business_service: string | null;
  owner: string | null;
  support_group: string | null;
  criticality: string | null;
  location: string | null;
  operational_status: string | null;
  lifecycle_status: string | null;
  manufacturer: string | null;
  model: string | null;
  cost_center: string | null;
  tags: Record<string, string>;
  virtualization_host: string | null;
  cluster: string | null;
  classification: { confidence: number; evidence: string[] };
  attributes: Record<string, Cell>;
}

export interface ClassificationSummary {
  assets: number;
  byType: Record<string, number>;
  byEnvironment: Record<string, number>;
  byOsFamily: Record<string, number>;
  unknownShare: number;
}

export interface ClassificationOutput {
  assets: Asset[];
  summary: ClassificationSummary;
}

export type EdgeOrigin = 'relation' | 'flow' | 'implied';

export interface DependencyNode {
  /** asset_key when resolved, else `external:<ip or name>`. */
  key: string;
  label: string;
  resolved: boolean;
  /** For unresolved nodes: external (a public IP or foreign name) or orphan. */
  kind: 'asset' | 'external' | 'orphan';
}

export interface DependencyEdge {
  /** Stable within a workflow: origin|source|target|type|port. */
  edge_key: string;
  source_key: string;
  target_key: string;
  type: string;
  origin: EdgeOrigin;
  port: number | null;
  process: string | null;
  /** Observations aggregated into this edge. */
  count: number;
}

export interface DependencySummary {
  nodes: number;
  edges: number;
  edgesByType: Record<string, number>;
  unresolvedEndpoints: number;
  cycles: number;
  applicationGroups: { id: number; size: number; members: string[] }[];
}

export interface DependencyOutput {
  nodes: DependencyNode[];
  edges: DependencyEdge[];
  summary: DependencySummary;
}
