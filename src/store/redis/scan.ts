/**
 * Where a Redis SCAN cursor stands, so that a walk resumed in a later command lists exactly the
 * keys it has not listed yet; and the session listing's cursors, which name a SCAN batch.
 *
 * Redis walks its key table in reverse-binary order of the bucket index: a cursor's position is
 * its 64 bits read backwards. Every key lives at the position of its bucket, and growing the table
 * only splits buckets in place, so "the keys from cursor a up to cursor b" names the same keys
 * whatever the table's size was when either cursor was made. Shrinking merges neighbouring
 * buckets, which is the one case where a resumed walk can meet keys it listed before (SCAN's own
 * guarantee: nothing that stays is skipped, something may repeat).
 */

import { invalidCursor } from "../paging.js";

const BITS = 64n;
/** The position of the cursor "0" that ends a walk: past every bucket. */
const END_OF_TABLE = 1n << BITS;

/** A cursor's place in the walk, comparable across table sizes. */
export function scanPosition(cursor: string): bigint {
  if (cursor === "0") return END_OF_TABLE;
  let value = BigInt(cursor);
  let reversed = 0n;
  for (let bit = 0n; bit < BITS; bit += 1n) {
    reversed = (reversed << 1n) | (value & 1n);
    value >>= 1n;
  }
  return reversed;
}

/** Whether a SCAN call that returned `next` stayed within the region that ends at `regionEnd`. */
export function endsWithin(next: string, regionEnd: string): boolean {
  return scanPosition(next) <= scanPosition(regionEnd);
}

/**
 * A session listing's cursor: "<SCAN cursor of the batch>:<SCAN cursor after it>:<handle>", the
 * row's batch and its place in the batch (rows of a batch are listed by handle).
 */
export interface ScanCursor {
  scan: string;
  next: string;
  handle: string;
}

export function scanCursor(scan: string, next: string, handle: string): string {
  return `${scan}:${next}:${handle}`;
}

export function parseScanCursor(cursor: string): ScanCursor {
  const match = /^(\d{1,20}):(\d{1,20}):([0-9a-f]{16})$/.exec(cursor);
  // SCAN cursors are unsigned 64-bit numbers.
  if (!match || BigInt(match[1]!) >= 2n ** 64n || BigInt(match[2]!) >= 2n ** 64n) throw invalidCursor();
  return { scan: match[1]!, next: match[2]!, handle: match[3]! };
}
