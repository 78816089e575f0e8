import { AppError } from '../errors.ts';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  /** The nextCursor of the previous page, unchanged; absent for the first page. */
  cursor?: string;
}

type CursorParts = (string | number)[];

export class InvalidCursorError extends AppError {
  constructor() {
    super('INVALID_CURSOR', 'The cursor is not one this service issued; pass nextCursor from the previous page unchanged.', { status: 400 });
  }
}

/** An opaque cursor for keyset or offset pagination. */
export function encodeCursor(parts: CursorParts): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** Decodes a cursor made by encodeCursor; null for anything else. */
export function decodeCursor(cursor: string | undefined, arity: number): CursorParts | null {
  if (!cursor) return null;
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts.length === arity && parts.every((p) => typeof p === 'string' || typeof p === 'number')) return parts;
  } catch {
    // fall through: a malformed cursor is reported by the caller
  }
  return null;
}

/** The parts of a cursor this service issued, null for the first page; throws InvalidCursorError for anything else. */
export function cursorAfter(cursor: string | undefined, arity: number): CursorParts | null {
  const parts = decodeCursor(cursor, arity);
  if (cursor && !parts) throw new InvalidCursorError();
  return parts;
}

/**
 * One keyset page: `fetch` reads up to `take` rows after the cursor's position (null: from the
 * start); one row more than the page is read to learn whether another page follows, and the last
 * row's `keyOf` becomes the next cursor.
 */
export async function keysetPage<T>(
  request: PageRequest,
  arity: number,
  fetch: (after: CursorParts | null, take: number) => Promise<T[]>,
  keyOf: (row: T) => CursorParts,
): Promise<Page<T>> {
  const rows = await fetch(cursorAfter(request.cursor, arity), request.limit + 1);
  const items = rows.slice(0, request.limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > request.limit && last ? encodeCursor(keyOf(last)) : null };
}

/** Pages a list held in memory with an opaque offset cursor. */
export function offsetPage<T>(items: readonly T[], request: PageRequest): Page<T> {
  const parts = cursorAfter(request.cursor, 1);
  const offset = parts ? Number(parts[0]) : 0;
  const next = offset + request.limit;
  return { items: items.slice(offset, next), nextCursor: next < items.length ? encodeCursor([next]) : null };
}
