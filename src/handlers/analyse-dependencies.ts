import { PairIndex, connectedComponents, countCyclicComponents, smallestSorted } from './graph.ts';
import { columnsByTarget } from './map-fields.ts';
import { normaliseRelationType } from './relations.ts';
import { normaliseColumn } from './synonyms.ts';
import type { Asset, DependencyEdge, DependencyNode, DependencyOutput, EdgeOrigin, FieldMapping, MappingTarget, Row, SourceAnalysis, Table, TableRole } from './types.ts';
import { bareIp, FirstSeen, identityKey, isFqdn, isIp, isPublicIp, meaningful, memoise, parseNumber } from './values.ts';

const MAX_GROUPS = 100;
const MAX_GROUP_MEMBERS = 50;
// Client-side ports: aggregating them per port would turn one conversation into thousands of edges.
const EPHEMERAL_PORT = 49152;
const FLOW_TYPE = 'network_flow';

/**
 * Nodes are numbered in insertion order; indexes, aliases and edge endpoints hold those numbers, so the
 * graph algorithms at the end run on typed arrays rather than on maps keyed by strings.
 */
class Graph {
  /** Node keys and nodes by node id. */
  readonly keys: string[] = [];
  readonly nodes: DependencyNode[] = [];
  /** Node id of every asset, by position in the assets array. */
  readonly assetIds: number[] = [];
  /** Edges in order of first observation. */
  readonly edges: DependencyEdge[] = [];
  /** Source and target node ids of each edge, by position in `edges`. */
  readonly edgeSources: number[] = [];
  readonly edgeTargets: number[] = [];
  private readonly ids = new FirstSeen<number>();
  /**
   * Edges are told apart by their edge_key string. While no node key contains "|", that string is
   * equivalent to (origin, source id, target id, type, port), so edges are found through an index of
   * edge positions hashed by the two node ids: no string is built or hashed per observation.
   */
  private byPair: PairIndex | null = new PairIndex(this.edgeSources, this.edgeTargets);
  /** Edges by edge_key, used instead of `byPair` once a node key contains "|". */
  private byKey: Map<string, DependencyEdge> | null = null;
  private pipeInKeys = false;
  private readonly index = new Map<string, number>();
  private readonly aliases = new Map<string, number>();

  /** `wanted` holds every key lookup() may be asked for (see queryKeys); only those are indexed. */
  constructor(
    assets: GraphAsset[],
    private readonly wanted: Set<string>,
  ) {
    for (const asset of assets) {
      this.assetIds.push(this.setNode(asset.asset_key, { key: asset.asset_key, label: asset.name ?? asset.hostname ?? asset.fqdn ?? asset.ip_addresses[0] ?? asset.asset_key, resolved: true, kind: 'asset' }));
    }
    // Stronger identities first, so a name shared with another asset's key never wins. The first
    // registration of a key wins: registering everything in reverse order with set() (the last write
    // wins) builds the same index with one hash operation per value instead of has() then set().
    const ids = this.assetIds;
    for (let index = assets.length - 1; index >= 0; index--) {
      const addresses = assets[index].ip_addresses;
      for (let address = addresses.length - 1; address >= 0; address--) this.register(addresses[address], ids[index]);
    }
    for (let index = assets.length - 1; index >= 0; index--) {
      const asset = assets[index];
      this.register(asset.hostname === null ? null : firstLabel(asset.hostname), ids[index]);
      this.register(asset.fqdn === null ? null : firstLabel(asset.fqdn), ids[index]);
    }
    for (let index = assets.length - 1; index >= 0; index--) {
      this.register(assets[index].name, ids[index]);
      this.register(assets[index].hostname, ids[index]);
    }
    for (let index = assets.length - 1; index >= 0; index--) this.register(assets[index].fqdn, ids[index]);
    for (let index = assets.length - 1; index >= 0; index--) {
      this.register(assets[index].source_key, ids[index]);
      this.register(assets[index].asset_key, ids[index]);
    }
  }

  /** Adds a node, or replaces the node of an existing key in place (as Map.set would). */
  private setNode(key: string, node: DependencyNode): number {
    const id = this.keys.length;
    const existing = this.ids.claim(key, id);
    if (existing !== undefined) {
      this.nodes[existing] = node;
      return existing;
    }
    if (!this.pipeInKeys && key.includes('|')) this.pipeInKeys = true;
    this.keys.push(key);
    this.nodes.push(node);
    return id;
  }

  private register(value: string | null, id: number): void {
    if (value === null) return;
    const key = isIp(value) ? bareIp(value) : identityKey(value);
    // Indexing only the keys that will be looked up keeps the map small; 100k assets register ~5 keys each.
    if (key !== '' && this.wanted.has(key)) this.index.set(key, id);
  }

  // Keep in step with queryKeys(), which must list every key asked for here.
  private lookup(value: string): number | undefined {
    if (isIp(value)) return this.index.get(bareIp(value));
    const key = identityKey(value);
    return this.index.get(key) ?? (isFqdn(value) ? this.index.get(firstLabel(key)) : undefined);
  }

  /** The node for an endpoint seen as names and/or addresses; unknown endpoints become external or orphan nodes. */
  endpoint(names: string[], ips: string[]): number {
    for (const value of names) {
      const found = this.lookup(value);
      if (found !== undefined) return found;
    }
    for (const value of ips) {
      const found = this.lookup(value);
      if (found !== undefined) return found;
    }
    const aliases: string[] = [];
    for (const name of names) {
      const alias = identityKey(name);
      if (alias !== '') aliases.push(alias);
    }
    for (const ip of ips) {
      const alias = bareIp(ip);
      if (alias !== '') aliases.push(alias);
    }
    let id: number | undefined;
    for (const alias of aliases) {
      id = this.aliases.get(alias);
      if (id !== undefined) break;
    }
    const known = id === undefined ? undefined : this.nodes[id];
    // A node first seen by address takes the host name once a later row tells it.
    if (known && names.length > 0 && isIp(known.label)) known.label = names[0];
    if (id === undefined) {
      const label = names[0] ?? ips[0];
      const key = `external:${aliases[0]}`;
      // Provider circuits and public addresses lie outside the estate; a bare unknown name is an inventory gap.
      const external = ips.some(isPublicIp) || names.some((name) => isFqdn(name) || isPublicIp(name) || name.startsWith('circuit:'));
      id = this.setNode(key, { key, label, resolved: false, kind: external ? 'external' : 'orphan' });
    }
    // Later rows may name the same endpoint only by address (or only by name).
    for (const alias of aliases) if (this.aliases.get(alias) === undefined) this.aliases.set(alias, id);
    return id;
  }

  edge(origin: EdgeOrigin, sourceId: number, targetId: number, type: string, port: number | null = null, process: string | null = null): void {
    if (sourceId === targetId) return;
    const existing = this.findEdge(origin, sourceId, targetId, type, port);
    if (existing) {
      existing.count++;
      if (existing.process === null && process !== null) existing.process = process;
      return;
    }
    const source = this.keys[sourceId];
    const target = this.keys[targetId];
    const edgeKey = `${origin}|${source}|${target}|${type}|${port ?? ''}`;
    const edge: DependencyEdge = { edge_key: edgeKey, source_key: source, target_key: target, type, origin, port, process, count: 1 };
    this.edges.push(edge);
    this.edgeSources.push(sourceId);
    this.edgeTargets.push(targetId);
    if (this.byKey !== null) this.byKey.set(edgeKey, edge);
    else this.byPair!.add(this.edges.length - 1);
  }

  /** The edge already recorded under the same edge_key, if any. */
  private findEdge(origin: EdgeOrigin, sourceId: number, targetId: number, type: string, port: number | null): DependencyEdge | undefined {
    if (this.byKey === null && this.pipeInKeys) {
      // Keys with "|" could make different endpoints share an edge_key: from now on compare the keys themselves.
      this.byKey = new Map(this.edges.map((edge) => [edge.edge_key, edge]));
      this.byPair = null;
    }
    if (this.byKey !== null) return this.byKey.get(`${origin}|${this.keys[sourceId]}|${this.keys[targetId]}|${type}|${port ?? ''}`);
    const slots = this.byPair!;
    for (let slot = slots.start(sourceId, targetId); slots.at(slot) !== -1; slot = slots.next(slot)) {
      const index = slots.at(slot);
      if (this.edgeSources[index] !== sourceId || this.edgeTargets[index] !== targetId) continue;
      const edge = this.edges[index];
      // `port ?? ''` in the edge_key: null only matches null, and numbers match when their text does (=== also equates 0 and -0).
      if (edge.origin === origin && edge.type === type && edge.port === port) return edge;
    }
    return undefined;
  }
}

/** `text.split('.')[0]` without building the array of labels. */
function firstLabel(text: string): string {
  const dot = text.indexOf('.');
  return dot === -1 ? text : text.slice(0, dot);
}

function endpointValues(row: Row, columns: Map<MappingTarget, string[]>, hostField: MappingTarget, ipField: MappingTarget | null): { names: string[]; ips: string[] } {
  const names: string[] = [];
  const ips: string[] = [];
  for (const column of columns.get(hostField) ?? []) {
    const value = meaningful(row[column]);
    if (value !== null) (isIp(value) ? ips : names).push(value);
  }
  for (const column of ipField === null ? [] : (columns.get(ipField) ?? [])) {
    const value = meaningful(row[column]);
    if (value !== null) ips.push(value);
  }
  return { names, ips };
}

function first(row: Row, columns: string[] | undefined): string | null {
  for (const column of columns ?? []) {
    const value = meaningful(row[column]);
    if (value !== null) return value;
  }
  return null;
}

function addRelations(graph: Graph, table: Table, columns: Map<MappingTarget, string[]>): void {
  for (const row of table.rows) {
    const parent = endpointValues(row, columns, 'rel_parent', null);
    const child = endpointValues(row, columns, 'rel_child', null);
    if (parent.names.length + parent.ips.length === 0 || child.names.length + child.ips.length === 0) continue;
    const { type, reverse } = normaliseRelationType(first(row, columns.get('rel_type')));
    const parentKey = graph.endpoint(parent.names, parent.ips);
    const childKey = graph.endpoint(child.names, child.ips);
    if (reverse) graph.edge('relation', childKey, parentKey, type);
    else graph.edge('relation', parentKey, childKey, type);
  }
}

function addFlows(graph: Graph, table: Table, columns: Map<MappingTarget, string[]>): void {
  for (const row of table.rows) {
    const source = endpointValues(row, columns, 'src_host', 'src_ip');
    const destination = endpointValues(row, columns, 'dst_host', 'dst_ip');
    if (source.names.length + source.ips.length === 0 || destination.names.length + destination.ips.length === 0) continue;
    const parsedPort = parseNumber(first(row, columns.get('dst_port')));
    const port = parsedPort && Number.isInteger(parsedPort.value) && parsedPort.value >= 0 && parsedPort.value < EPHEMERAL_PORT ? parsedPort.value : null;
    const process = first(row, columns.get('process'));
    graph.edge('flow', graph.endpoint(source.names, source.ips), graph.endpoint(destination.names, destination.ips), FLOW_TYPE, port, process === null || /^unknown process$/i.test(process) ? null : process);
  }
}

/** Adds the keys Graph.lookup() reads for `value`. */
function addQueryKeys(keys: Set<string>, value: string | null): void {
  if (value === null) return;
  if (isIp(value)) {
    keys.add(bareIp(value));
    return;
  }
  const key = identityKey(value);
  keys.add(key);
  if (isFqdn(value)) keys.add(firstLabel(key));
}

const RELATION_ENDPOINTS: MappingTarget[] = ['rel_parent', 'rel_child'];
const FLOW_ENDPOINTS: MappingTarget[] = ['src_host', 'src_ip', 'dst_host', 'dst_ip'];

/**
 * Every key an endpoint lookup can ask the identity index for (a superset: it ignores whether the row
 * becomes an edge). The index only needs these, and they are usually far fewer than the assets' identities.
 */
function queryKeys(tables: { table: Table; role: TableRole; columns: Map<MappingTarget, string[]> }[], assets: GraphAsset[]): Set<string> {
  const keys = new Set<string>();
  for (const { table, role, columns } of tables) {
    const endpointColumns = (role === 'relations' ? RELATION_ENDPOINTS : FLOW_ENDPOINTS).flatMap((field) => columns.get(field) ?? []);
    for (const row of table.rows) for (const column of endpointColumns) addQueryKeys(keys, meaningful(row[column]));
  }
  for (const asset of assets) {
    addQueryKeys(keys, asset.application);
    addQueryKeys(keys, asset.virtualization_host);
    addQueryKeys(keys, asset.cluster);
    for (const column of Object.keys(asset.attributes)) if (isBackupColumn(column)) addQueryKeys(keys, meaningful(asset.attributes[column]));
  }
  return keys;
}

// Whether an attribute column names a backup target: decided once per column name, not once per asset.
const isBackupColumn = memoise((column: string) => /backup_(server|host)|backup_target/.test(normaliseColumn(column)));

const NO_NAMES: string[] = [];

/** What the dependency analysis reads of an asset: its identities and the fields that imply edges. */
export type GraphAsset = Pick<
  Asset,
  'asset_key' | 'source_key' | 'name' | 'hostname' | 'fqdn' | 'ip_addresses' | 'application' | 'asset_type' | 'virtualization_host' | 'cluster' | 'attributes'
>;

/** An asset cut down to what the dependency analysis reads (attributes: the backup-target columns only), a fraction of its size. */
export function graphView(asset: Asset): GraphAsset {
  const attributes: Asset['attributes'] = {};
  for (const column of Object.keys(asset.attributes)) if (isBackupColumn(column)) attributes[column] = asset.attributes[column];
  const { asset_key, source_key, name, hostname, fqdn, ip_addresses, application, asset_type, virtualization_host, cluster } = asset;
  return { asset_key, source_key, name, hostname, fqdn, ip_addresses, application, asset_type, virtualization_host, cluster, attributes };
}

/** `assets` must be the array the graph was built from: its node ids are looked up by position. */
function addImplied(graph: Graph, assets: GraphAsset[]): void {
  for (let index = 0; index < assets.length; index++) {
    const asset = assets[index];
    const id = graph.assetIds[index];
    if (asset.application !== null && asset.asset_type !== 'application') {
      graph.edge('implied', graph.endpoint([asset.application], NO_NAMES), id, 'runs_on');
    }
    if (asset.virtualization_host !== null) graph.edge('implied', id, graph.endpoint([asset.virtualization_host], NO_NAMES), 'runs_on');
    if (asset.cluster !== null && asset.asset_type !== 'cluster') graph.edge('implied', id, graph.endpoint([asset.cluster], NO_NAMES), 'member_of');
    for (const column of Object.keys(asset.attributes)) {
      if (!isBackupColumn(column)) continue;
      const text = meaningful(asset.attributes[column]);
      if (text !== null) graph.edge('implied', id, graph.endpoint(isIp(text) ? NO_NAMES : [text], isIp(text) ? [text] : NO_NAMES), 'backed_up_by');
    }
  }
}

/** Strongly connected components with more than one node (Tarjan, iterative so deep graphs cannot overflow the stack). */
export function countCycles(nodes: string[], edges: Iterable<DependencyEdge>): number {
  // Number the given nodes first (they are the starting points, in order), then any other edge endpoint.
  const ids = new Map<string, number>();
  const idOf = (key: string): number => {
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ids.size));
    return id;
  };
  for (const node of nodes) idOf(node);
  const starts = ids.size;
  const sources: number[] = [];
  const targets: number[] = [];
  for (const edge of edges) {
    sources.push(idOf(edge.source_key));
    targets.push(idOf(edge.target_key));
  }
  return countCyclicComponents(ids.size, starts, sources, targets);
}

function applicationGroups(graph: Graph): { id: number; size: number; members: string[] }[] {
  // Members in order of first appearance in the edges; the sort below is stable on that order.
  const components = connectedComponents(graph.nodes.length, graph.edgeSources, graph.edgeTargets);
  const keys = graph.keys;
  return components
    .filter((members) => members.length > 1)
    .sort((a, b) => b.length - a.length || (keys[a[0]] < keys[b[0]] ? -1 : 1))
    .slice(0, MAX_GROUPS)
    .map((members, index) => ({
      id: index + 1,
      size: members.length,
      members: smallestSorted(
        members.map((member) => graph.nodes[member].label),
        MAX_GROUP_MEMBERS,
      ),
    }));
}

/** Builds the dependency graph from relation and flow tables and from columns that imply edges. */
export function analyseDependencies(tables: Table[], analysis: SourceAnalysis, mappings: FieldMapping[], assets: GraphAsset[]): DependencyOutput {
  const roles = new Map(analysis.tables.map((entry) => [entry.table, entry.role]));
  const edgeTables: { table: Table; role: TableRole; columns: Map<MappingTarget, string[]> }[] = [];
  for (const table of tables) {
    const role = roles.get(table.id);
    if (role === 'relations' || role === 'flows') edgeTables.push({ table, role, columns: columnsByTarget(mappings, table.id) });
  }
  const graph = new Graph(assets, queryKeys(edgeTables, assets));
  for (const { table, role, columns } of edgeTables) {
    if (role === 'relations') addRelations(graph, table, columns);
    else addFlows(graph, table, columns);
  }
  addImplied(graph, assets);
  const nodes = [...graph.nodes];
  const edges = [...graph.edges];
  const edgesByType: Record<string, number> = {};
  for (const edge of edges) edgesByType[edge.type] = (edgesByType[edge.type] ?? 0) + 1;
  return {
    nodes,
    edges,
    summary: {
      nodes: nodes.length,
      edges: edges.length,
      edgesByType,
      unresolvedEndpoints: nodes.filter((node) => !node.resolved).length,
      cycles: countCyclicComponents(graph.nodes.length, graph.nodes.length, graph.edgeSources, graph.edgeTargets),
      applicationGroups: applicationGroups(graph),
    },
  };
}
