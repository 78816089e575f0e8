import { describe, expect, it } from 'vitest';
import { PairIndex, adjacency, connectedComponents, countCyclicComponents, smallestSorted } from '../../src/handlers/graph.ts';

describe('graph algorithms', () => {
  it('lists outgoing edges per node in edge order', () => {
    const { offsets, targets } = adjacency(3, [0, 1, 0], [1, 2, 2]);
    expect([...offsets]).toEqual([0, 2, 3, 3]);
    expect([...targets]).toEqual([1, 2, 2]);
  });

  it('counts strongly connected components with more than one node', () => {
    // 0 -> 1 -> 0 is a cycle, 2 -> 3 -> 4 -> 2 another, 5 -> 5 a self-loop does not count.
    const sources = [0, 1, 2, 3, 4, 5, 1];
    const targets = [1, 0, 3, 4, 2, 5, 2];
    expect(countCyclicComponents(6, 6, sources, targets)).toBe(2);
    expect(countCyclicComponents(3, 3, [0, 1], [1, 2])).toBe(0);
  });

  it('only walks what the start nodes reach', () => {
    // Node 2 <-> 3 form a cycle, but only node 0 is a start and it reaches neither.
    expect(countCyclicComponents(4, 1, [0, 2, 3], [1, 3, 2])).toBe(0);
  });

  it('survives a path far deeper than the call stack', () => {
    const n = 200_000;
    const sources = Array.from({ length: n }, (_, i) => i);
    const targets = Array.from({ length: n }, (_, i) => (i + 1) % n);
    expect(countCyclicComponents(n, n, sources, targets)).toBe(1);
  });

  it('groups nodes joined by edges, in order of first appearance', () => {
    expect(connectedComponents(7, [4, 0, 1, 5], [3, 1, 2, 6])).toEqual([
      [4, 3],
      [0, 1, 2],
      [5, 6],
    ]);
    expect(connectedComponents(3, [], [])).toEqual([]);
  });

  it('keeps the smallest strings, sorted, like a full sort would', () => {
    const texts = Array.from({ length: 1000 }, (_, i) => `host-${(i * 7919) % 1000}`);
    expect(smallestSorted([...texts], 5)).toEqual([...texts].sort().slice(0, 5));
    expect(smallestSorted(['b', 'a'], 5)).toEqual(['a', 'b']);
  });

  it('finds entries by their pair of ids through growth of the table', () => {
    const firsts: number[] = [];
    const seconds: number[] = [];
    const index = new PairIndex(firsts, seconds);
    for (let i = 0; i < 5000; i++) {
      firsts.push(i % 100);
      seconds.push((i % 100) + 1);
      index.add(i);
    }
    const lookup = (a: number, b: number) => {
      const found: number[] = [];
      for (let slot = index.start(a, b); index.at(slot) !== -1; slot = index.next(slot)) {
        const entry = index.at(slot);
        if (firsts[entry] === a && seconds[entry] === b) found.push(entry);
      }
      return found.sort((x, y) => x - y);
    };
    const entriesOf = (a: number) => Array.from({ length: 50 }, (_, k) => a + 100 * k);
    expect(lookup(7, 8)).toEqual(entriesOf(7));
    expect(lookup(99, 100)).toEqual(entriesOf(99));
    expect(lookup(7, 9)).toEqual([]);
  });
});
