/**
 * SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104) for the verification hot path, in plain
 * JavaScript. Pure: no I/O.
 *
 * Why not node:crypto: each `createHmac()` call crosses into OpenSSL 3, which fetches the
 * algorithm, allocates contexts and hashes the key's two pad blocks again, every time. For a
 * token (a payload of one or two 64-byte blocks) that overhead is most of the cost: on the
 * benchmark machine `createHmac(...).update(payload).digest()` runs at a third of the speed of
 * this code, which hashes the key's pad blocks once per secret (`HmacSha256Key`) and then only
 * compresses the payload and the outer block. Results are checked against node:crypto in
 * test/core/sha256.test.ts (lengths 0-300 bytes across every block boundary, non-ASCII text, keys
 * longer than a block), and the CLI and interop tests check tokens against node:crypto's and
 * Python's HMAC. Minting uses it too, so verifying never needs node:crypto at all, which also
 * keeps OpenSSL out of the CLI's cold start.
 *
 * Side channels: the compression function only adds, rotates and XORs 32-bit words (no
 * secret-indexed table look-ups), and `matchesHex` compares all 32 bytes without an early exit.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const BLOCK = 64;

// Scratch space shared by every call (JavaScript runs one call at a time; nothing here awaits).
const W = new Int32Array(64);
const STATE = new Int32Array(8);
// Room for a token of up to 16 KiB of UTF-16 (at most 48 KiB of UTF-8) plus padding; grown for
// longer text.
let MESSAGE = Buffer.alloc(3 * 16 * 1024 + 2 * BLOCK);
const OUTER = Buffer.alloc(BLOCK);

function compress(H: Int32Array, M: Uint8Array, offset: number): void {
  const w = W;
  for (let i = 0; i < 16; i += 1) {
    const j = offset + i * 4;
    w[i] = (M[j]! << 24) | (M[j + 1]! << 16) | (M[j + 2]! << 8) | M[j + 3]!;
  }
  for (let i = 16; i < 64; i += 1) {
    const w15 = w[i - 15]!;
    const w2 = w[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = H[0]!;
  let b = H[1]!;
  let c = H[2]!;
  let d = H[3]!;
  let e = H[4]!;
  let f = H[5]!;
  let g = H[6]!;
  let h = H[7]!;
  for (let i = 0; i < 64; i += 1) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + b) | 0;
  H[2] = (H[2]! + c) | 0;
  H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0;
  H[5] = (H[5]! + f) | 0;
  H[6] = (H[6]! + g) | 0;
  H[7] = (H[7]! + h) | 0;
}

/**
 * Pads MESSAGE[0, length) in place for a message that is `prefixBytes + length` bytes long and
 * returns the end of the padded data (a multiple of 64).
 */
function pad(length: number, prefixBytes: number): number {
  MESSAGE[length] = 0x80;
  const end = Math.ceil((length + 9) / BLOCK) * BLOCK;
  MESSAGE.fill(0, length + 1, end - 8);
  const bits = (prefixBytes + length) * 8;
  const high = Math.floor(bits / 0x1_0000_0000);
  MESSAGE.writeUInt32BE(high >>> 0, end - 8);
  MESSAGE.writeUInt32BE(bits >>> 0, end - 4);
  return end;
}

/** Hashes the `length` bytes at the start of MESSAGE, continuing from `state` after `prefixBytes`. */
function hashMessage(state: Int32Array, length: number, prefixBytes: number): void {
  const end = pad(length, prefixBytes);
  for (let offset = 0; offset < end; offset += BLOCK) compress(state, MESSAGE, offset);
}

/** Writes `text` as UTF-8 at the start of MESSAGE (growing it when needed); returns its length. */
function writeText(text: string): number {
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  if (text.length * 3 + 2 * BLOCK > MESSAGE.length) MESSAGE = Buffer.alloc(text.length * 3 + 2 * BLOCK);
  return MESSAGE.write(text, 0, "utf8");
}

/** SHA-256 of a key longer than a block (HMAC hashes such keys first). */
function sha256Bytes(bytes: Uint8Array): Int32Array {
  const state = IV.slice();
  let offset = 0;
  for (; offset + BLOCK <= bytes.length; offset += BLOCK) compress(state, bytes, offset);
  MESSAGE.set(bytes.subarray(offset), 0);
  hashMessage(state, bytes.length - offset, offset);
  return state;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function wordsToHex(words: Int32Array): string {
  let out = "";
  for (let i = 0; i < 8; i += 1) {
    const word = words[i]!;
    out += HEX[(word >>> 24) & 0xff]! + HEX[(word >>> 16) & 0xff]! + HEX[(word >>> 8) & 0xff]! + HEX[word & 0xff]!;
  }
  return out;
}

/** SHA-256 of the UTF-8 encoding of `text`, as lowercase hex (the same as node:crypto's). */
export function sha256Hex(text: string): string {
  STATE.set(IV);
  hashMessage(STATE, writeText(text), 0);
  return wordsToHex(STATE);
}

// Hex digit values: lowercase 0-15, uppercase 16-31 (a valid digit, but pywry compares hex text,
// so it can never match), -1 for anything else.
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit += 1) {
  HEX_VALUE[digit.toString(16).charCodeAt(0)] = digit;
  if (digit >= 10) HEX_VALUE[digit.toString(16).toUpperCase().charCodeAt(0)] = digit + 16;
}

/**
 * What `decodeHexSignature` found: 64 lowercase hex digits; 64 hex digits with some uppercase
 * (well-formed, but never pywry's lowercase MAC); or not 64 hex digits.
 */
export const HexSignature = { Lowercase: 0, HasUppercase: 1, Malformed: 2 } as const;
export type HexSignature = (typeof HexSignature)[keyof typeof HexSignature];

/**
 * Decodes a 64-digit hex signature into 8 big-endian words in `out` (signatures are not secret,
 * so this may stop early on a bad character).
 */
export function decodeHexSignature(text: string, out: Int32Array): HexSignature {
  if (text.length !== 64) return HexSignature.Malformed;
  let upper = 0;
  for (let i = 0; i < 8; i += 1) {
    let word = 0;
    for (let nibble = 0; nibble < 8; nibble += 1) {
      const code = text.charCodeAt(i * 8 + nibble);
      const value = code < 128 ? HEX_VALUE[code]! : -1;
      if (value < 0) return HexSignature.Malformed;
      upper |= value;
      word = (word << 4) | (value & 0xf);
    }
    out[i] = word;
  }
  return upper & 16 ? HexSignature.HasUppercase : HexSignature.Lowercase;
}

/**
 * An HMAC-SHA256 key: the states after hashing the key's inner and outer pad blocks, computed
 * once, so each MAC costs only the message's blocks and one outer block.
 */
export class HmacSha256Key {
  private readonly inner: Int32Array;
  private readonly outer: Int32Array;

  constructor(secret: string) {
    let key: Buffer = Buffer.from(secret, "utf8");
    if (key.length > BLOCK) {
      const digest = sha256Bytes(key);
      key = Buffer.alloc(32);
      for (let i = 0; i < 8; i += 1) key.writeInt32BE(digest[i]!, i * 4);
    }
    // Buffers only (never plain Uint8Arrays), so compress() sees one array type and stays fast.
    const innerPad = Buffer.alloc(BLOCK, 0x36);
    const outerPad = Buffer.alloc(BLOCK, 0x5c);
    for (let i = 0; i < key.length; i += 1) {
      innerPad[i] = key[i]! ^ 0x36;
      outerPad[i] = key[i]! ^ 0x5c;
    }
    this.inner = IV.slice();
    this.outer = IV.slice();
    compress(this.inner, innerPad, 0);
    compress(this.outer, outerPad, 0);
  }

  /** The MAC of `message`'s UTF-8 bytes, as 8 big-endian words in a shared scratch array. */
  private mac(message: string): Int32Array {
    STATE.set(this.inner);
    hashMessage(STATE, writeText(message), BLOCK);
    const outer = OUTER;
    for (let i = 0; i < 8; i += 1) {
      const word = STATE[i]!;
      outer[i * 4] = word >>> 24;
      outer[i * 4 + 1] = word >>> 16;
      outer[i * 4 + 2] = word >>> 8;
      outer[i * 4 + 3] = word;
    }
    outer[32] = 0x80;
    outer.fill(0, 33, 62);
    // The outer message is the 64-byte pad block plus the 32-byte inner digest: 768 bits.
    outer[62] = 0x03;
    outer[63] = 0x00;
    STATE.set(this.outer);
    compress(STATE, outer, 0);
    return STATE;
  }

  /** The MAC of `message` as lowercase hex (what pywry writes into a token). */
  hex(message: string): string {
    return wordsToHex(this.mac(message));
  }

  /**
   * Whether `signature` (8 words, as decodeHexSignature gives them) is the MAC of `message`.
   * Compares every word, whatever differs, so the time taken says nothing about the MAC.
   */
  matches(message: string, signature: Int32Array): boolean {
    const mac = this.mac(message);
    let difference = 0;
    for (let i = 0; i < 8; i += 1) difference |= mac[i]! ^ signature[i]!;
    return difference === 0;
  }

  /** Whether `signatureHex` is the lowercase hex MAC of `message` (uppercase never matches). */
  matchesHex(message: string, signatureHex: string): boolean {
    const words = new Int32Array(8);
    return decodeHexSignature(signatureHex, words) === HexSignature.Lowercase && this.matches(message, words);
  }
}

const KEY_CACHE_LIMIT = 32;
const keyCache = new Map<string, HmacSha256Key>();

/** The prepared key for a secret, from a small cache (a process uses one or a few secrets). */
export function hmacKeyFor(secret: string): HmacSha256Key {
  let key = keyCache.get(secret);
  if (key === undefined) {
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    key = new HmacSha256Key(secret);
    keyCache.set(secret, key);
  }
  return key;
}
