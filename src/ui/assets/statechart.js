// The statechart drawn from GET /machine (the machine's config as JSON): top-level states as
// boxes, their sub-states inside, transitions as arrows; the current state highlighted.
import { label } from './format.js';
import { html } from './html.js';

const asArray = (x) => (x === undefined || x === null ? [] : Array.isArray(x) ? x : [x]);

function guardName(guard) {
  if (!guard) return '';
  return typeof guard === 'string' ? guard : (guard.type ?? 'guard');
}

/** States by path and every transition between them, from the JSON config. */
export function parseMachine(definition) {
  const rootId = definition.id ?? 'machine';
  const nodes = new Map();
  const edges = [];
  const key = (path) => path.join('.');

  const walk = (node, path) => {
    if (path.length) nodes.set(key(path), { path, key: path[path.length - 1], type: node.type ?? (node.states ? 'compound' : 'atomic'), children: Object.keys(node.states ?? {}), initial: node.initial ?? null, invoke: asArray(node.invoke).map((i) => i.src ?? i.id) });
    for (const [child, config] of Object.entries(node.states ?? {})) walk(config, [...path, child]);
  };
  walk(definition, []);

  const resolve = (target, source) => {
    if (target.startsWith('#')) {
      const [id, ...rest] = target.slice(1).split('.');
      return id === rootId ? rest : null;
    }
    return [...source.slice(0, -1), ...target.split('.')];
  };
  const add = (source, transitions, event) => {
    for (const t of asArray(transitions)) {
      const spec = typeof t === 'string' ? { target: t } : t;
      for (const target of asArray(spec.target)) {
        const to = resolve(target, source);
        if (to && nodes.has(key(to))) edges.push({ from: key(source), to: key(to), event, guard: guardName(spec.guard) });
      }
    }
  };
  const collect = (node, path) => {
    if (path.length) {
      for (const [event, t] of Object.entries(node.on ?? {})) add(path, t, event);
      for (const inv of asArray(node.invoke)) {
        add(path, inv.onDone, 'done');
        add(path, inv.onError, 'error');
      }
      add(path, node.always, 'always');
      for (const [delay, t] of Object.entries(node.after ?? {})) add(path, t, `after ${delay}`);
    }
    for (const [child, config] of Object.entries(node.states ?? {})) collect(config, [...path, child]);
  };
  collect(definition, []);
  return { rootId, initial: definition.initial, top: Object.keys(definition.states ?? {}), nodes, edges };
}

/**
 * Places the top-level states: the longest path from the initial state to a final one is the
 * spine (one row, in order); every other state goes in a second row beneath it.
 */
export function layoutMachine(machine) {
  const { top, nodes, edges, initial } = machine;
  const topOf = (k) => k.split('.')[0];
  const out = new Map(top.map((t) => [t, []]));
  const pairs = new Map();
  for (const e of edges) {
    const a = topOf(e.from);
    const b = topOf(e.to);
    if (a === b) continue;
    const id = `${a}>${b}`;
    if (!pairs.has(id)) {
      pairs.set(id, { from: a, to: b, labels: [] });
      out.get(a).push(b);
    }
    const text = e.event + (e.guard ? ` [${e.guard}]` : '');
    if (!pairs.get(id).labels.includes(text)) pairs.get(id).labels.push(text);
  }
  // Depth-first from the initial state, successors in declaration order: back edges are cut so
  // the rest is acyclic, then every state's rank is its longest distance from the initial one.
  const order = (t) => top.indexOf(t);
  const back = new Set();
  const state = new Map();
  const visit = (t) => {
    state.set(t, 'open');
    for (const n of [...out.get(t)].sort((x, y) => order(x) - order(y))) {
      if (state.get(n) === 'open') back.add(`${t}>${n}`);
      else if (!state.has(n)) visit(n);
    }
    state.set(t, 'done');
  };
  visit(initial);
  for (const t of top) if (!state.has(t)) visit(t);
  const rank = new Map(top.map((t) => [t, 0]));
  for (let changed = true, guard = 0; changed && guard < top.length + 1; guard += 1) {
    changed = false;
    for (const p of pairs.values()) {
      if (back.has(`${p.from}>${p.to}`)) continue;
      if (rank.get(p.to) < rank.get(p.from) + 1) {
        rank.set(p.to, rank.get(p.from) + 1);
        changed = true;
      }
    }
  }
  const finals = top.filter((t) => nodes.get(t).type === 'final');
  const end = [...(finals.length ? finals : top)].sort((a, b) => rank.get(b) - rank.get(a))[0];
  const spine = [end];
  while (spine[0] !== initial) {
    const cur = spine[0];
    const pred = [...pairs.values()].filter((p) => p.to === cur && !back.has(`${p.from}>${p.to}`) && rank.get(p.from) === rank.get(cur) - 1).map((p) => p.from)[0];
    if (!pred) break;
    spine.unshift(pred);
  }
  const rest = top.filter((t) => !spine.includes(t)).sort((a, b) => rank.get(a) - rank.get(b) || order(a) - order(b));
  return { spine, rest, pairs: [...pairs.values()] };
}

const W = 128;
const GAP = 44;
const PAD = 36;
const HEAD = 36;
const PILL = 20;
const PILL_GAP = 6;

function wrap(text, max = 15) {
  const words = label(text).split(' ');
  const lines = [''];
  for (const word of words) {
    const line = lines[lines.length - 1];
    if (line && `${line} ${word}`.length > max) lines.push(word);
    else lines[lines.length - 1] = line ? `${line} ${word}` : word;
  }
  return lines.slice(0, 2);
}

function boxHeight(node) {
  const n = node.children.length;
  return n ? HEAD + n * (PILL + PILL_GAP) + 6 : HEAD + 4;
}

/** Geometry for every box and edge; pure, so the page only renders it. */
export function geometry(machine) {
  const { spine, rest, pairs } = layoutMachine(machine);
  const boxes = new Map();
  const row0 = Math.max(...spine.map((t) => boxHeight(machine.nodes.get(t))));
  spine.forEach((t, i) => boxes.set(t, { x: PAD + 18 + i * (W + GAP), y: PAD, w: W, h: boxHeight(machine.nodes.get(t)), row: 0 }));
  const y1 = PAD + row0 + 110;
  const start = Math.max(0, (spine.length - rest.length) / 2);
  rest.forEach((t, j) => boxes.set(t, { x: PAD + 18 + start * (W + GAP) + j * (W + GAP * 2), y: y1, w: W, h: boxHeight(machine.nodes.get(t)), row: 1 }));
  const width = Math.max(...[...boxes.values()].map((b) => b.x + b.w)) + PAD;
  const height = Math.max(...[...boxes.values()].map((b) => b.y + b.h)) + PAD;

  // Edges between the rows leave and arrive spread along the box's side, sorted by where the other end is.
  const ports = new Map();
  const port = (box, side, other) => {
    const id = `${box}:${side}`;
    if (!ports.has(id)) ports.set(id, []);
    ports.get(id).push(other);
  };
  const cross = pairs.filter((p) => boxes.get(p.from).row !== boxes.get(p.to).row);
  for (const p of cross) {
    const down = boxes.get(p.from).row === 0;
    port(p.from, down ? 'bottom' : 'top', p.to);
    port(p.to, down ? 'top' : 'bottom', p.from);
  }
  const portX = (box, side, other, outgoing) => {
    const b = boxes.get(box);
    const list = ports.get(`${box}:${side}`);
    // Spine boxes: outgoing edges on the left half, incoming on the right.
    if (b.row === 0) return b.x + b.w / 2 + (outgoing ? -14 : 14);
    const sorted = [...list].sort((x, y) => boxes.get(x).x - boxes.get(y).x);
    const i = sorted.indexOf(other);
    return b.x + 10 + ((i + 0.5) * (b.w - 20)) / sorted.length;
  };

  const paths = pairs.map((p) => {
    const a = boxes.get(p.from);
    const b = boxes.get(p.to);
    const title = `${p.from} → ${p.to}: ${p.labels.join(', ')}`;
    const text = [...new Set(p.labels.map((l) => l.replace(/ \[.*\]$/, '')))].join(' / ');
    if (a.row === b.row) {
      const forward = a.x < b.x;
      const adjacent = Math.abs(a.x - b.x) <= W + GAP * 2 + 1;
      if (adjacent) {
        const y = a.y + (forward ? HEAD / 2 : HEAD / 2 + 12);
        const x1 = forward ? a.x + a.w : a.x;
        const x2 = forward ? b.x : b.x + b.w;
        return { ...p, d: `M${x1},${y} L${x2},${y}`, lx: (x1 + x2) / 2, ly: y - 4, text, title, kind: 'flow' };
      }
      const top = Math.min(a.y, b.y) - 18;
      const x1 = a.x + a.w / 2;
      const x2 = b.x + b.w / 2;
      return { ...p, d: `M${x1},${a.y} C${x1},${top} ${x2},${top} ${x2},${b.y}`, lx: (x1 + x2) / 2, ly: top + 4, text, title, kind: 'arc' };
    }
    const down = a.row === 0;
    const x1 = portX(p.from, down ? 'bottom' : 'top', p.to, true);
    const x2 = portX(p.to, down ? 'top' : 'bottom', p.from, false);
    const y1 = down ? a.y + a.h : a.y;
    const y2 = down ? b.y : b.y + b.h;
    const mid = (y1 + y2) / 2;
    return { ...p, d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`, lx: x1, ly: down ? y1 + 12 : y1 - 6, text, title, kind: down ? 'down' : 'up' };
  });
  return { boxes, paths, width, height };
}

function isActive(value, path) {
  let v = value;
  for (const part of path) {
    if (typeof v === 'string') return v === part && path[path.length - 1] === part;
    if (!v || typeof v !== 'object' || !(part in v)) return false;
    v = v[part];
  }
  return true;
}

export function Statechart({ definition, view }) {
  const machine = parseMachine(definition);
  const { boxes, paths, width, height } = geometry(machine);
  const value = view?.value ?? null;
  const failedAt = view?.status === 'failed' ? view.errors?.[view.errors.length - 1]?.phase : null;
  const current = typeof value === 'string' ? value : value ? Object.entries(value).map(([k, v]) => `${k}.${typeof v === 'string' ? v : Object.keys(v)[0]}`)[0] : '';
  const initialBox = boxes.get(machine.initial);
  const labelText = `Statechart of the workflow machine; the current state is ${label(current) || 'unknown'}.`;

  return html`<figure class="statechart">
    <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${labelText} data-current=${current} preserveAspectRatio="xMinYMin meet">
      <title>${labelText}</title>
      <defs>
        <marker id="sc-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="sc-arrowhead" />
        </marker>
      </defs>
      ${initialBox &&
      html`<g class="sc-initial"><circle cx=${initialBox.x - 26} cy=${initialBox.y + HEAD / 2} r="5" />
        <path d=${`M${initialBox.x - 21},${initialBox.y + HEAD / 2} L${initialBox.x},${initialBox.y + HEAD / 2}`} marker-end="url(#sc-arrow)" /></g>`}
      ${paths.map(
        (p) => html`<g class=${`sc-edge sc-edge-${p.kind}${p.from === view?.phase || p.to === view?.phase ? ' is-near' : ''}`} data-from=${p.from} data-to=${p.to}>
          <title>${p.title}</title>
          <path d=${p.d} marker-end="url(#sc-arrow)" />
          ${(p.kind === 'flow' || p.kind === 'arc') && html`<text x=${p.lx} y=${p.ly} text-anchor="middle">${p.text}</text>`}
        </g>`,
      )}
      ${[...boxes.entries()].map(([name, b]) => {
        const node = machine.nodes.get(name);
        const active = value !== null && isActive(value, [name]);
        const done = view?.flags?.[`${name}_complete`];
        const attempts = view?.attempts?.[name] ?? 0;
        const classes = ['sc-state', `sc-${node.type}`, active ? 'is-active' : '', done ? 'is-done' : '', failedAt === name ? 'is-failed-here' : '', `sc-name-${name}`].filter(Boolean).join(' ');
        const lines = wrap(name);
        return html`<g class=${classes} data-state=${name} data-active=${String(active)}>
          <title>${label(name)}${node.invoke.length ? ` — invokes ${node.invoke.join(', ')}` : ''}${attempts ? ` — ${attempts} attempt(s)` : ''}</title>
          <rect x=${b.x} y=${b.y} width=${b.w} height=${b.h} rx="10" />
          ${node.type === 'final' && html`<rect class="sc-final-inner" x=${b.x + 4} y=${b.y + 4} width=${b.w - 8} height=${b.h - 8} rx="7" />`}
          ${lines.map((line, i) => html`<text class="sc-label" x=${b.x + b.w / 2} y=${b.y + (lines.length === 1 ? 22 : 16 + i * 13)} text-anchor="middle">${line}</text>`)}
          ${done && html`<text class="sc-check" x=${b.x + b.w - 12} y=${b.y + 15} text-anchor="middle" aria-hidden="true">✓</text>`}
          ${attempts > 1 && html`<text class="sc-attempts" x=${b.x + 12} y=${b.y + 15} text-anchor="middle">×${attempts}</text>`}
          ${node.children.map((child, i) => {
            const childActive = value !== null && isActive(value, [name, child]);
            const py = b.y + HEAD + i * (PILL + PILL_GAP);
            return html`<g class=${`sc-substate${childActive ? ' is-active' : ''}`} data-state=${`${name}.${child}`} data-active=${String(childActive)}>
              <rect x=${b.x + 12} y=${py} width=${b.w - 24} height=${PILL} rx=${PILL / 2} />
              <text x=${b.x + b.w / 2} y=${py + 14} text-anchor="middle">${label(child)}</text>
            </g>`;
          })}
          ${innerEdges(machine, name, b)}
        </g>`;
      })}
    </svg>
    <figcaption class="muted">
      Drawn from <a href="/machine">GET /machine</a>. Current state: <strong data-testid="current-state">${label(current) || '—'}</strong>.
      Arrows below the main row: cancel and failure into <em>failed</em>; <em>RETRY</em> leads through <em>retrying</em> back to a phase.
    </figcaption>
  </figure>`;
}

/** Arrows between the sub-states of one box, as small arcs beside the pills. */
function innerEdges(machine, name, b) {
  const node = machine.nodes.get(name);
  const seen = new Set();
  return machine.edges
    .filter((e) => e.from.startsWith(`${name}.`) && e.to.startsWith(`${name}.`) && e.from !== e.to)
    .filter((e) => (seen.has(`${e.from}>${e.to}`) ? false : seen.add(`${e.from}>${e.to}`)))
    .map((e) => {
      const i = node.children.indexOf(e.from.split('.')[1]);
      const j = node.children.indexOf(e.to.split('.')[1]);
      if (i < 0 || j < 0) return null;
      const down = j > i;
      const x = down ? b.x + b.w - 12 : b.x + 12;
      const bulge = (down ? 1 : -1) * (6 + 3 * Math.abs(j - i));
      const y1 = b.y + HEAD + i * (PILL + PILL_GAP) + PILL / 2 + (down ? 3 : -3);
      const y2 = b.y + HEAD + j * (PILL + PILL_GAP) + PILL / 2 + (down ? -3 : 3);
      return html`<path class="sc-inner" d=${`M${x},${y1} C${x + bulge},${y1} ${x + bulge},${y2} ${x},${y2}`} marker-end="url(#sc-arrow)"><title>${`${e.from} → ${e.to}: ${e.event}${e.guard ? ` [${e.guard}]` : ''}`}</title></path>`;
    });
}
