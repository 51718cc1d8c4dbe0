/**
 * Where a Redis SCAN cursor stands, so that a walk resumed in a later command lists exactly the
 * keys it has not listed yet.
 *
 * Redis walks its key table in reverse-binary order of the bucket index: a cursor's position is
 * its 64 bits read backwards. Every key lives at the position of its bucket, and growing the table
 * only splits buckets in place, so "the keys from cursor a up to cursor b" names the same keys
 * whatever the table's size was when either cursor was made. Shrinking merges neighbouring
 * buckets, which is the one case where a resumed walk can meet keys it listed before (SCAN's own
 * guarantee: nothing that stays is skipped, something may repeat).
 */

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
