// Graph algorithms on numbered nodes (0..n-1) and edges given as parallel source/target arrays:
// typed arrays instead of maps keyed by strings, and no recursion, so 100k-node graphs stay cheap.

/**
 * An open-addressing hash index of entries keyed by a pair of node ids. The entries' keys live in
 * the caller's arrays (`firsts[i]`, `seconds[i]` for entry i), so the index holds only positions.
 * Probe with `for (let s = index.start(a, b); index.at(s) !== -1; s = index.next(s))`.
 */
export class PairIndex {
  private slots = new Int32Array(1024).fill(-1);
  private count = 0;

  constructor(
    private readonly firsts: ArrayLike<number>,
    private readonly seconds: ArrayLike<number>,
  ) {}

  /** Indexes entry `entry`, whose pair is already in the key arrays. */
  add(entry: number): void {
    this.count += 1;
    // Kept at most half full, so probes stay short.
    if (this.count * 2 > this.slots.length) {
      this.slots = new Int32Array(this.slots.length * 2).fill(-1);
      for (let index = 0; index < entry; index++) this.place(index);
    }
    this.place(entry);
  }

  /** The first slot to probe for pair (a, b). */
  start(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & (this.slots.length - 1);
  }

  /** The entry in `slot`, or -1 where the probe ends. */
  at(slot: number): number {
    return this.slots[slot];
  }

  next(slot: number): number {
    return (slot + 1) & (this.slots.length - 1);
  }

  private place(entry: number): void {
    let slot = this.start(this.firsts[entry], this.seconds[entry]);
    while (this.slots[slot] !== -1) slot = this.next(slot);
    this.slots[slot] = entry;
  }
}

/** Outgoing edges per node as compressed rows: targets of node n are targets[offsets[n]..offsets[n + 1]), in edge order. */
export function adjacency(nodeCount: number, sources: ArrayLike<number>, targets: ArrayLike<number>): { offsets: Int32Array; targets: Int32Array } {
  const offsets = new Int32Array(nodeCount + 1);
  for (let edge = 0; edge < sources.length; edge++) offsets[sources[edge] + 1]++;
  for (let node = 0; node < nodeCount; node++) offsets[node + 1] += offsets[node];
  const fill = offsets.slice(0, nodeCount);
  const list = new Int32Array(sources.length);
  for (let edge = 0; edge < sources.length; edge++) list[fill[sources[edge]]++] = targets[edge];
  return { offsets, targets: list };
}

/**
 * Tarjan's algorithm, iterative so deep graphs cannot overflow the stack: the number of strongly
 * connected components with more than one node among the nodes reachable from nodes 0..starts-1.
 */
export function countCyclicComponents(nodeCount: number, starts: number, sources: ArrayLike<number>, targets: ArrayLike<number>): number {
  const graph = adjacency(nodeCount, sources, targets);
  const order = new Int32Array(nodeCount).fill(-1);
  const low = new Int32Array(nodeCount);
  const onStack = new Uint8Array(nodeCount);
  const stack = new Int32Array(nodeCount);
  const workNode = new Int32Array(nodeCount);
  const workNext = new Int32Array(nodeCount);
  let stackSize = 0;
  let counter = 0;
  let cycles = 0;
  for (let start = 0; start < starts; start++) {
    if (order[start] !== -1) continue;
    let depth = 0;
    workNode[0] = start;
    workNext[0] = graph.offsets[start];
    order[start] = low[start] = counter++;
    stack[stackSize++] = start;
    onStack[start] = 1;
    while (depth >= 0) {
      const node = workNode[depth];
      if (workNext[depth] < graph.offsets[node + 1]) {
        const target = graph.targets[workNext[depth]++];
        if (order[target] === -1) {
          order[target] = low[target] = counter++;
          stack[stackSize++] = target;
          onStack[target] = 1;
          depth++;
          workNode[depth] = target;
          workNext[depth] = graph.offsets[target];
        } else if (onStack[target] === 1) {
          low[node] = Math.min(low[node], order[target]);
        }
        continue;
      }
      depth--;
      if (depth >= 0) {
        const parent = workNode[depth];
        low[parent] = Math.min(low[parent], low[node]);
      }
      if (low[node] === order[node]) {
        let size = 0;
        let member: number;
        do {
          member = stack[--stackSize];
          onStack[member] = 0;
          size++;
        } while (member !== node);
        if (size > 1) cycles++;
      }
    }
  }
  return cycles;
}

/**
 * Weakly connected components of the nodes that touch an edge (union-find with path compression).
 * Components come in order of their first node's first appearance in the edges, and so do their members.
 */
export function connectedComponents(nodeCount: number, sources: ArrayLike<number>, targets: ArrayLike<number>): number[][] {
  const parent = new Int32Array(nodeCount).fill(-1);
  const seen: number[] = [];
  const find = (node: number): number => {
    let root = node;
    while (parent[root] !== root) root = parent[root];
    let current = node;
    while (current !== root) {
      const next = parent[current];
      parent[current] = root;
      current = next;
    }
    return root;
  };
  for (let edge = 0; edge < sources.length; edge++) {
    const source = sources[edge];
    const target = targets[edge];
    if (parent[source] === -1) {
      parent[source] = source;
      seen.push(source);
    }
    if (parent[target] === -1) {
      parent[target] = target;
      seen.push(target);
    }
    const a = find(source);
    const b = find(target);
    if (a !== b) parent[a] = b;
  }
  const components = new Map<number, number[]>();
  for (const node of seen) {
    const root = find(node);
    const list = components.get(root);
    if (list) list.push(node);
    else components.set(root, [node]);
  }
  return [...components.values()];
}

/** The `count` smallest strings in code-unit order, sorted: what `[...texts].sort().slice(0, count)` returns, without sorting everything. */
export function smallestSorted(texts: string[], count: number): string[] {
  if (texts.length <= count * 4) return texts.sort().slice(0, count);
  const kept: string[] = [];
  for (const text of texts) {
    if (kept.length === count) {
      if (!(text < kept[count - 1])) continue;
      kept.pop();
    }
    // Insert after any equal strings, as a stable sort would; equal strings are interchangeable anyway.
    let position = kept.length;
    while (position > 0 && text < kept[position - 1]) position--;
    kept.splice(position, 0, text);
  }
  return kept;
}
