import { describe, expect, it } from 'vitest';
import { InvalidCursorError, cursorAfter, decodeCursor, encodeCursor, keysetPage, offsetPage } from '../../src/db/paging.ts';

describe('paging', () => {
  it('round-trips cursor parts and rejects cursors it did not issue', () => {
    const cursor = encodeCursor(['2026-01-01T00:00:00.000Z', 'abc']);
    expect(decodeCursor(cursor, 2)).toEqual(['2026-01-01T00:00:00.000Z', 'abc']);
    expect(decodeCursor(cursor, 1)).toBeNull();
    expect(decodeCursor('not-a-cursor', 1)).toBeNull();
    expect(decodeCursor(encodeCursor([1]).slice(0, -2) + '!!', 1)).toBeNull();
    expect(cursorAfter(undefined, 1)).toBeNull();
    expect(() => cursorAfter('garbage', 1)).toThrow(InvalidCursorError);
    expect(new InvalidCursorError()).toMatchObject({ code: 'INVALID_CURSOR', status: 400 });
  });

  it('reads one row more than the page to tell whether another follows, and continues after the last key', async () => {
    const rows = [1, 2, 3, 4, 5];
    const fetch = async (after: (string | number)[] | null, take: number) => rows.filter((n) => after === null || n > Number(after[0])).slice(0, take);
    const first = await keysetPage({ limit: 2 }, 1, fetch, (n) => [n]);
    expect(first.items).toEqual([1, 2]);
    const second = await keysetPage({ limit: 2, cursor: first.nextCursor! }, 1, fetch, (n) => [n]);
    expect(second.items).toEqual([3, 4]);
    const last = await keysetPage({ limit: 2, cursor: second.nextCursor! }, 1, fetch, (n) => [n]);
    expect(last).toEqual({ items: [5], nextCursor: null });
    // Exactly a page left: no cursor to an empty page.
    expect((await keysetPage({ limit: 5 }, 1, fetch, (n) => [n])).nextCursor).toBeNull();
  });

  it('pages a list held in memory by offset', () => {
    const items = ['a', 'b', 'c'];
    const first = offsetPage(items, { limit: 2 });
    expect(first.items).toEqual(['a', 'b']);
    expect(offsetPage(items, { limit: 2, cursor: first.nextCursor! })).toEqual({ items: ['c'], nextCursor: null });
    expect(() => offsetPage(items, { limit: 2, cursor: 'x' })).toThrow(InvalidCursorError);
  });
});
