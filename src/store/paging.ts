/**
 * Keyset paging shared by the stores: cursor checks, page sizes, and the simple in-memory walk
 * the default list operations (AuthStoreBase) and the memory store use.
 */
import { InvalidInputError } from "../core/errors.js";
import { DEFAULT_PAGE_SIZE, type ListPage, type PageOptions } from "./types.js";

/** The largest page a store reads at once, whatever is asked (memory stays flat). */
export const MAX_PAGE_SIZE = 10_000;

export function pageSizeOf(page: PageOptions): number {
  const size = Math.trunc(page.pageSize ?? DEFAULT_PAGE_SIZE);
  return Number.isFinite(size) && size >= 1 ? Math.min(size, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
}

/** A cursor this store did not make. The text itself is left out: it may be a pasted secret. */
export function invalidCursor(): InvalidInputError {
  return new InvalidInputError(
    "invalid --after cursor: use a cursor from an earlier page of the same list on the same store (the cursor field of --json, or the one a listing printed)",
  );
}

const HANDLE_CURSOR = /^(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)_([0-9a-f]{16})$/;

/** "<time>_<handle>": the position of a row ordered by time (newest first), then by handle. */
export function timeHandleCursor(at: number, handle: string): string {
  return `${at}_${handle}`;
}

export function parseTimeHandleCursor(cursor: string): { at: number; handle: string } {
  const match = HANDLE_CURSOR.exec(cursor);
  const at = match ? Number(match[1]) : Number.NaN;
  if (!match || !Number.isFinite(at)) throw invalidCursor();
  return { at, handle: match[2]! };
}

/** A whole number cursor (a row id); `minimum` is the first valid one. */
export function parseIdCursor(cursor: string, minimum = 0): number {
  const id = /^\d{1,16}$/.test(cursor) ? Number(cursor) : Number.NaN;
  if (!Number.isSafeInteger(id) || id < minimum) throw invalidCursor();
  return id;
}

/**
 * Pages of rows already in memory, sorted by `compare` (whose order `key` follows): rows whose
 * key sorts after `after` (compared with `afterKey`), `size` at a time.
 */
export async function* pagesOf<T, K>(
  rows: readonly T[],
  options: {
    key: (row: T) => K;
    cursor: (key: K) => string;
    compare: (a: K, b: K) => number;
    after: K | null;
    size: number;
  },
): AsyncGenerator<ListPage<T>> {
  const keyed = rows.map((row) => ({ row, key: options.key(row) }));
  keyed.sort((a, b) => options.compare(a.key, b.key));
  let start = 0;
  if (options.after !== null) {
    const after = options.after;
    // The first row past the cursor (binary search: the rows are sorted by key).
    let low = 0;
    let high = keyed.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (options.compare(keyed[middle]!.key, after) <= 0) low = middle + 1;
      else high = middle;
    }
    start = low;
  }
  for (let offset = start; offset < keyed.length; offset += options.size) {
    const slice = keyed.slice(offset, offset + options.size);
    yield { rows: slice.map((entry) => entry.row), cursors: slice.map((entry) => options.cursor(entry.key)) };
  }
}

/** Newest first, then by handle: the order of the time-and-handle cursors. */
export function newestThenHandle(a: { at: number; handle: string }, b: { at: number; handle: string }): number {
  return b.at - a.at || (a.handle < b.handle ? -1 : a.handle > b.handle ? 1 : 0);
}

export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The pages with only the rows `keep` keeps (each with its own cursor); empty pages are skipped. */
export async function* filterPages<T>(pages: AsyncIterable<ListPage<T>>, keep: (row: T) => boolean): AsyncGenerator<ListPage<T>> {
  for await (const page of pages) {
    const kept: ListPage<T> = { rows: [], cursors: [] };
    page.rows.forEach((row, index) => {
      if (keep(row)) {
        kept.rows.push(row);
        kept.cursors.push(page.cursors[index]!);
      }
    });
    if (kept.rows.length > 0) yield kept;
  }
}
