import { columnsByTarget } from './map-fields.ts';
import { normaliseColumn } from './synonyms.ts';
import type { Asset, DependencyEdge, DependencyNode, DependencyOutput, EdgeOrigin, FieldMapping, MappingTarget, Row, SourceAnalysis, Table } from './types.ts';
import { bareIp, identityKey, isFqdn, isIp, isPublicIp, meaningful, parseNumber, slug } from './values.ts';

const MAX_GROUPS = 100;
const MAX_GROUP_MEMBERS = 50;
// Client-side ports: aggregating them per port would turn one conversation into thousands of edges.
const EPHEMERAL_PORT = 49152;
const FLOW_TYPE = 'network_flow';

// ServiceNow "parent verb::child verb" pairs. The normalised edge always reads source → target
// with the active verb, so passive parent verbs ("Used by", "Hosts") flip the direction.
const RELATION_VERBS: Record<string, { type: string; reverse: boolean }> = {
  'depends on': { type: 'depends_on', reverse: false },
  'used by': { type: 'depends_on', reverse: true },
  uses: { type: 'depends_on', reverse: false },
  'runs on': { type: 'runs_on', reverse: false },
  runs: { type: 'runs_on', reverse: true },
  'hosted on': { type: 'hosted_on', reverse: false },
  hosts: { type: 'hosted_on', reverse: true },
  'virtualized by': { type: 'runs_on', reverse: false },
  virtualizes: { type: 'runs_on', reverse: true },
  contains: { type: 'contains', reverse: false },
  'contained by': { type: 'contains', reverse: true },
  'member of': { type: 'member_of', reverse: false },
  members: { type: 'member_of', reverse: true },
  'cluster of': { type: 'member_of', reverse: true },
  cluster: { type: 'member_of', reverse: false },
  'connects to': { type: 'connects_to', reverse: false },
  'connected by': { type: 'connects_to', reverse: true },
  'ip connection': { type: 'connects_to', reverse: false },
  'cabled to': { type: 'cabled_to', reverse: false },
  'sends data to': { type: 'sends_data_to', reverse: false },
  'receives data from': { type: 'sends_data_to', reverse: true },
  'stored on': { type: 'stored_on', reverse: false },
  'provides storage for': { type: 'stored_on', reverse: true },
  'backed up by': { type: 'backed_up_by', reverse: false },
  'backs up': { type: 'backed_up_by', reverse: true },
  'located in': { type: 'located_in', reverse: false },
  'location for': { type: 'located_in', reverse: true },
  'managed by': { type: 'managed_by', reverse: false },
  manages: { type: 'managed_by', reverse: true },
  'owned by': { type: 'owned_by', reverse: false },
  owns: { type: 'owned_by', reverse: true },
  'instantiated by': { type: 'instance_of', reverse: false },
  instantiates: { type: 'instance_of', reverse: true },
  'exchange data with': { type: 'exchanges_data_with', reverse: false },
};

/** Normalises a relation type ("Depends on::Used by", "runs_on", "Hosts") to a verb and a direction. */
export function normaliseRelationType(text: string | null): { type: string; reverse: boolean } {
  if (text === null) return { type: 'related_to', reverse: false };
  const parent = text.split('::')[0].trim().toLowerCase().replace(/[_-]+/g, ' ').replace(/\s+/g, ' ');
  return RELATION_VERBS[parent] ?? { type: slug(parent) || 'related_to', reverse: false };
}

class Graph {
  readonly nodes = new Map<string, DependencyNode>();
  readonly edges = new Map<string, DependencyEdge>();
  private readonly index = new Map<string, string>();
  private readonly aliases = new Map<string, string>();

  constructor(assets: Asset[]) {
    for (const asset of assets) {
      this.nodes.set(asset.asset_key, { key: asset.asset_key, label: asset.name ?? asset.hostname ?? asset.fqdn ?? asset.ip_addresses[0] ?? asset.asset_key, resolved: true, kind: 'asset' });
    }
    // Stronger identities first, so a name shared with another asset's key never wins.
    const passes: ((asset: Asset) => (string | null)[])[] = [
      (asset) => [asset.asset_key, asset.source_key],
      (asset) => [asset.fqdn],
      (asset) => [asset.hostname, asset.name],
      (asset) => [asset.fqdn?.split('.')[0] ?? null, asset.hostname?.split('.')[0] ?? null],
      (asset) => asset.ip_addresses,
    ];
    for (const pass of passes) {
      for (const asset of assets) {
        for (const value of pass(asset)) {
          if (value === null) continue;
          const key = isIp(value) ? bareIp(value) : identityKey(value);
          if (key !== '' && !this.index.has(key)) this.index.set(key, asset.asset_key);
        }
      }
    }
  }

  private lookup(value: string): string | undefined {
    if (isIp(value)) return this.index.get(bareIp(value));
    const key = identityKey(value);
    return this.index.get(key) ?? (isFqdn(value) ? this.index.get(key.split('.')[0]) : undefined);
  }

  /** The node for an endpoint seen as names and/or addresses; unknown endpoints become external or orphan nodes. */
  endpoint(names: string[], ips: string[]): string {
    for (const value of [...names, ...ips]) {
      const found = this.lookup(value);
      if (found !== undefined) return found;
    }
    const aliases = [...names.map(identityKey), ...ips.map(bareIp)].filter((alias) => alias !== '');
    let key = aliases.map((alias) => this.aliases.get(alias)).find((found) => found !== undefined);
    const known = key === undefined ? undefined : this.nodes.get(key);
    // A node first seen by address takes the host name once a later row tells it.
    if (known && names.length > 0 && isIp(known.label)) known.label = names[0];
    if (key === undefined) {
      const label = names[0] ?? ips[0];
      key = `external:${aliases[0]}`;
      // Provider circuits and public addresses lie outside the estate; a bare unknown name is an inventory gap.
      const external = ips.some(isPublicIp) || names.some((name) => isFqdn(name) || isPublicIp(name) || name.startsWith('circuit:'));
      this.nodes.set(key, { key, label, resolved: false, kind: external ? 'external' : 'orphan' });
    }
    // Later rows may name the same endpoint only by address (or only by name).
    for (const alias of aliases) if (!this.aliases.has(alias)) this.aliases.set(alias, key);
    return key;
  }

  edge(origin: EdgeOrigin, source: string, target: string, type: string, port: number | null = null, process: string | null = null): void {
    if (source === target) return;
    const edgeKey = `${origin}|${source}|${target}|${type}|${port ?? ''}`;
    const existing = this.edges.get(edgeKey);
    if (existing) {
      existing.count++;
      if (existing.process === null && process !== null) existing.process = process;
      return;
    }
    this.edges.set(edgeKey, { edge_key: edgeKey, source_key: source, target_key: target, type, origin, port, process, count: 1 });
  }
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

function addImplied(graph: Graph, assets: Asset[]): void {
  for (const asset of assets) {
    if (asset.application !== null && asset.asset_type !== 'application') {
      graph.edge('implied', graph.endpoint([asset.application], []), asset.asset_key, 'runs_on');
    }
    if (asset.virtualization_host !== null) graph.edge('implied', asset.asset_key, graph.endpoint([asset.virtualization_host], []), 'runs_on');
    if (asset.cluster !== null && asset.asset_type !== 'cluster') graph.edge('implied', asset.asset_key, graph.endpoint([asset.cluster], []), 'member_of');
    for (const [column, value] of Object.entries(asset.attributes)) {
      const name = normaliseColumn(column);
      const text = meaningful(value);
      if (text !== null && /backup_(server|host)|backup_target/.test(name)) graph.edge('implied', asset.asset_key, graph.endpoint(isIp(text) ? [] : [text], isIp(text) ? [text] : []), 'backed_up_by');
    }
  }
}

/** Strongly connected components with more than one node (Tarjan, iterative so deep graphs cannot overflow the stack). */
export function countCycles(nodes: string[], edges: Iterable<DependencyEdge>): number {
  const adjacency = new Map<string, string[]>();
  for (const edge of edges) {
    const list = adjacency.get(edge.source_key);
    if (list) list.push(edge.target_key);
    else adjacency.set(edge.source_key, [edge.target_key]);
  }
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  let counter = 0;
  let cycles = 0;
  for (const start of nodes) {
    if (order.has(start)) continue;
    const work: { node: string; next: number }[] = [{ node: start, next: 0 }];
    order.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const targets = adjacency.get(frame.node) ?? [];
      if (frame.next < targets.length) {
        const target = targets[frame.next++];
        if (!order.has(target)) {
          order.set(target, counter);
          low.set(target, counter++);
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, next: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node) as number, order.get(target) as number));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent) as number, low.get(frame.node) as number));
      }
      if (low.get(frame.node) === order.get(frame.node)) {
        let size = 0;
        let member: string | undefined;
        do {
          member = stack.pop();
          if (member !== undefined) onStack.delete(member);
          size++;
        } while (member !== undefined && member !== frame.node);
        if (size > 1) cycles++;
      }
    }
  }
  return cycles;
}

function applicationGroups(nodes: Map<string, DependencyNode>, edges: Iterable<DependencyEdge>): { id: number; size: number; members: string[] }[] {
  const parent = new Map<string, string>();
  const find = (node: string): string => {
    let root = node;
    while (parent.get(root) !== undefined && parent.get(root) !== root) root = parent.get(root) as string;
    let current = node;
    while (current !== root) {
      const next = parent.get(current) as string;
      parent.set(current, root);
      current = next;
    }
    return root;
  };
  for (const edge of edges) {
    if (!parent.has(edge.source_key)) parent.set(edge.source_key, edge.source_key);
    if (!parent.has(edge.target_key)) parent.set(edge.target_key, edge.target_key);
    const a = find(edge.source_key);
    const b = find(edge.target_key);
    if (a !== b) parent.set(a, b);
  }
  const components = new Map<string, string[]>();
  for (const node of parent.keys()) {
    const root = find(node);
    const list = components.get(root);
    if (list) list.push(node);
    else components.set(root, [node]);
  }
  return [...components.values()]
    .filter((members) => members.length > 1)
    .sort((a, b) => b.length - a.length || (a[0] < b[0] ? -1 : 1))
    .slice(0, MAX_GROUPS)
    .map((members, index) => ({
      id: index + 1,
      size: members.length,
      members: members
        .map((key) => nodes.get(key)?.label ?? key)
        .sort()
        .slice(0, MAX_GROUP_MEMBERS),
    }));
}

/** Builds the dependency graph from relation and flow tables and from columns that imply edges. */
export function analyseDependencies(tables: Table[], analysis: SourceAnalysis, mappings: FieldMapping[], assets: Asset[]): DependencyOutput {
  const graph = new Graph(assets);
  const roles = new Map(analysis.tables.map((entry) => [entry.table, entry.role]));
  for (const table of tables) {
    const role = roles.get(table.id);
    if (role === 'relations') addRelations(graph, table, columnsByTarget(mappings, table.id));
    else if (role === 'flows') addFlows(graph, table, columnsByTarget(mappings, table.id));
  }
  addImplied(graph, assets);
  const nodes = [...graph.nodes.values()];
  const edges = [...graph.edges.values()];
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
      cycles: countCycles([...graph.nodes.keys()], edges),
      applicationGroups: applicationGroups(graph.nodes, edges),
    },
  };
}
