// The dependency graph with Cytoscape.js, imported only when a graph is drawn (it is most of
// the console's bytes). Application groups are compound nodes around their connected members.
import { Downloads } from './download.js';
import { label } from './format.js';
import { html, useEffect, useMemo, useRef, useState } from './html.js';

export const TYPE_COLOURS = {
  server: '#2563eb',
  database: '#9333ea',
  application: '#059669',
  network_device: '#ea580c',
  storage: '#a16207',
  cluster: '#0891b2',
  facility: '#64748b',
  end_user_device: '#db2777',
  service: '#16a34a',
  software: '#4f46e5',
  unknown: '#6b7280',
};
const UNRESOLVED = '#dc2626';
const MAX_NODES = 2000;
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Nodes (the assets, application names and unresolved endpoints that edges touch), edges and connected groups. */
export function buildGraph(assets, edges) {
  const byKey = new Map(assets.map((a) => [a.asset_key, a]));
  const applications = new Set(assets.map((a) => a.application).filter(Boolean).map((s) => s.toLowerCase()));
  const nodes = new Map();
  const node = (key) => {
    if (nodes.has(key)) return nodes.get(key);
    const asset = byKey.get(key);
    const name = key.startsWith('external:') ? key.slice('external:'.length) : key;
    const entry = asset
      ? { id: key, label: asset.name ?? asset.hostname ?? key, type: asset.asset_type, kind: 'asset', application: asset.application }
      : applications.has(name.toLowerCase())
        ? { id: key, label: name, type: 'application', kind: 'application', application: name }
        : { id: key, label: name, type: 'unresolved', kind: 'unresolved', application: null };
    nodes.set(key, entry);
    return entry;
  };
  // Only assets with an edge: an isolated asset has no place in a dependency graph.
  const links = edges.map((e) => ({ id: e.edge_key, source: node(e.source_key).id, target: node(e.target_key).id, type: e.type, port: e.port, origin: e.origin }));

  // Connected components over the edges; a component of two or more is an application group.
  const parent = new Map([...nodes.keys()].map((k) => [k, k]));
  const find = (k) => (parent.get(k) === k ? k : (parent.set(k, find(parent.get(k))), parent.get(k)));
  for (const l of links) parent.set(find(l.source), find(l.target));
  const members = new Map();
  for (const k of nodes.keys()) {
    const root = find(k);
    if (!members.has(root)) members.set(root, []);
    members.get(root).push(k);
  }
  const groups = [...members.values()]
    .filter((m) => m.length > 1)
    .sort((a, b) => b.length - a.length)
    .map((m, i) => {
      const apps = [...new Set(m.map((k) => nodes.get(k).application).filter(Boolean))];
      return { id: `group:${i + 1}`, label: `Group ${i + 1}${apps.length ? `: ${apps.slice(0, 3).join(', ')}${apps.length > 3 ? '…' : ''}` : ''}`, members: m };
    });
  for (const g of groups) for (const k of g.members) nodes.get(k).group = g.id;
  return { nodes: [...nodes.values()], links, groups };
}

export function DependencyGraph({ assets, edges, base, summary }) {
  // Keyed by content, not by array identity: a results reload with the same inventory (a late stream
  // message) must not tear down and redraw the graph.
  const content = useMemo(
    () => JSON.stringify([assets.map((a) => [a.asset_key, a.name, a.asset_type, a.application]), edges.map((e) => [e.source_key, e.target_key, e.type, e.port])]),
    [assets, edges],
  );
  const graph = useMemo(() => buildGraph(assets, edges), [content]);
  const container = useRef(null);
  const [state, setState] = useState('loading');
  const unresolved = graph.nodes.filter((n) => n.kind === 'unresolved').length;
  const tooBig = graph.nodes.length > MAX_NODES;

  useEffect(() => {
    if (!container.current || graph.links.length === 0 || tooBig) return undefined;
    let cy = null;
    let cancelled = false;
    setState('loading');
    import('/ui/vendor/cytoscape.mjs')
      .then(({ default: cytoscape }) => {
        if (cancelled) return;
        cy = cytoscape({
          container: container.current,
          elements: [
            ...graph.groups.map((g) => ({ data: { id: g.id, label: g.label }, classes: 'group' })),
            ...graph.nodes.map((n) => ({ data: { id: n.id, label: n.label, type: n.type, ...(n.group ? { parent: n.group } : {}) }, classes: n.kind })),
            ...graph.links.map((l) => ({ data: { id: l.id, source: l.source, target: l.target, label: l.port ? `${l.type}:${l.port}` : l.type } })),
          ],
          style: [
            { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 3, width: 18, height: 18, color: '#1f2937', 'background-color': (n) => TYPE_COLOURS[n.data('type')] ?? TYPE_COLOURS.unknown } },
            { selector: 'node.application', style: { shape: 'round-hexagon', width: 24, height: 22 } },
            { selector: 'node.unresolved', style: { 'background-color': '#fff', 'border-width': 2, 'border-style': 'dashed', 'border-color': UNRESOLVED, shape: 'diamond', color: UNRESOLVED } },
            { selector: 'node.group', style: { 'background-color': '#eef2ff', 'background-opacity': 0.6, 'border-color': '#a5b4fc', 'border-width': 1, shape: 'round-rectangle', 'text-valign': 'top', 'text-halign': 'center', 'font-size': 11, 'font-weight': 'bold', color: '#3730a3', padding: 14 } },
            { selector: 'edge', style: { width: 1.5, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'line-color': '#94a3b8', 'target-arrow-color': '#94a3b8', 'arrow-scale': 0.8 } },
            { selector: 'edge:selected, node:selected', style: { 'line-color': '#1d4ed8', 'target-arrow-color': '#1d4ed8', 'border-color': '#1d4ed8', 'border-width': 3 } },
          ],
          layout: { name: graph.nodes.length > 300 ? 'grid' : 'cose', animate: false, nodeDimensionsIncludeLabels: true, padding: 20, randomize: false, componentSpacing: 60 },
        });
        // A small graph fitted to the box would be drawn huge: cap the zoom and centre it.
        if (cy.zoom() > 1.3) {
          cy.zoom(1.3);
          cy.center();
        }
        cy.on('tap', 'edge', (e) => e.target.select());
        container.current.dataset.nodes = String(cy.nodes().not('.group').length);
        container.current.dataset.edges = String(cy.edges().length);
        setState('ready');
      })
      .catch((error) => !cancelled && setState(`error: ${error.message}`));
    return () => {
      cancelled = true;
      cy?.destroy();
    };
  }, [graph]);

  const types = [...new Set(graph.nodes.filter((n) => n.kind !== 'unresolved').map((n) => n.type))];
  const flatEdges = edges.map((e) => ({ source: e.source_key, target: e.target_key, type: e.type, origin: e.origin, port: e.port, process: e.process, count: e.count }));
  return html`<div class="graph">
    <div class="row spread">
      <p class="muted">
        ${plural(graph.nodes.length, 'node')}, ${plural(graph.links.length, 'edge')}, ${plural(graph.groups.length, 'application group')}, ${plural(unresolved, 'unresolved endpoint')}${summary?.cycles ? `, ${plural(summary.cycles, 'cycle')}` : ''}.
      </p>
      <${Downloads} what="dependencies" base=${`${base}-dependencies`} rows=${flatEdges} />
    </div>
    ${graph.links.length === 0
      ? html`<p class="empty">No dependencies were found.</p>`
      : tooBig
        ? html`<p class="note">${graph.nodes.length} nodes are too many to draw here; download the edges instead.</p>`
        : html`<div
            class="graph-canvas"
            ref=${container}
            data-testid="dependency-graph"
            data-state=${state}
            role="img"
            aria-label=${`Dependency graph: ${graph.nodes.length} nodes in ${graph.groups.length} application groups, ${unresolved} unresolved endpoints. The edge table below lists every edge.`}
          ></div>`}
    ${state.startsWith('error') && html`<p class="error" role="alert">The graph could not be drawn (${state}).</p>`}
    <ul class="legend" aria-label="Legend">
      ${types.map((t) => html`<li><span class="swatch" style=${`background:${TYPE_COLOURS[t] ?? TYPE_COLOURS.unknown}`}></span>${label(t)}</li>`)}
      <li><span class="swatch unresolved"></span>unresolved endpoint</li>
      <li><span class="swatch group"></span>application group</li>
    </ul>
    ${graph.links.length > 0 &&
    html`<details class="edge-table">
      <summary>Edges as a table</summary>
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">Source</th><th scope="col">Target</th><th scope="col">Type</th><th scope="col">Port</th><th scope="col">Origin</th></tr></thead>
        <tbody>${edges.slice(0, 1000).map((e) => html`<tr key=${e.edge_key}><td>${e.source_key}</td><td>${e.target_key}</td><td>${label(e.type)}</td><td>${e.port ?? ''}</td><td>${e.origin}</td></tr>`)}</tbody>
      </table></div>
    </details>`}
  </div>`;
}
