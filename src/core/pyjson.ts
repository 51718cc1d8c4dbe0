/**
 * JSON the way Python's `json` module reads and writes it, losslessly. pywry stores metadata with
 * `json.dumps`, which writes NaN, Infinity and -Infinity, integers of any size, and floats such as
 * `1.0`, `-0.0` and `1e+16`; a JavaScript number cannot hold those as written. Such a number is
 * read as a PythonNumber that keeps its text, and written back as that text, so a row read and
 * written again is byte-identical to what pywry wrote.
 *
 * Reading and writing are iterative (no recursion): metadata nested thousands deep is handled,
 * where JSON.stringify and structuredClone overflow the stack. No I/O.
 */
import { StoreError } from "./errors.js";

/** A number from Python's JSON that a JavaScript number would change: kept as its text. */
export class PythonNumber {
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  /** The nearest JavaScript number (NaN, ±Infinity, a rounded integer), for arithmetic only. */
  valueOf(): number {
    return Number(this.text);
  }

  toString(): string {
    return this.text;
  }

  /**
   * For JSON.stringify, which cannot write a number's text: the nearest number, or the text as a
   * string for NaN and ±Infinity. jsonText writes the exact text instead; use it.
   */
  toJSON(): number | string {
    const value = Number(this.text);
    return Number.isFinite(value) ? value : this.text;
  }
}

/**
 * Metadata that could not be read (not JSON, or not a JSON object) is an empty object carrying
 * why, under this symbol: shown and checked as empty, but never written back (see jsonText).
 */
const UNREADABLE = Symbol("pywry-auth: unreadable metadata");

/** Why the metadata could not be read, or null when it was read. */
export function unreadableReason(metadata: unknown): string | null {
  return metadata !== null && typeof metadata === "object" ? ((metadata as { [UNREADABLE]?: string })[UNREADABLE] ?? null) : null;
}

/**
 * A session's metadata column or field as pywry reads it (`json.loads(text) if text else {}`).
 * Text that is not a JSON object gives an empty object marked unreadable, naming `where`.
 */
export function readMetadata(text: string | null | undefined, where: string | (() => string)): Record<string, unknown> {
  if (text === null || text === undefined || text === "") return {};
  if (text === "{}") return {};
  let value: unknown;
  try {
    value = parsePythonJson(text);
  } catch (error) {
    return unreadableMetadata(`${named(where)}: its metadata is not valid JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof PythonNumber) {
    return unreadableMetadata(`${named(where)}: its metadata is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Throws the StoreError jsonText would, before a change is made to metadata that could not be read. */
export function assertReadableMetadata(metadata: unknown): void {
  const reason = unreadableReason(metadata);
  if (reason !== null) throw unreadableError(reason);
}

function unreadableError(reason: string): StoreError {
  return new StoreError(`${reason}; pywry-auth never rewrites what it could not read (fix or clear that value first)`);
}

function named(where: string | (() => string)): string {
  return typeof where === "function" ? where() : where;
}

function unreadableMetadata(reason: string): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  Object.defineProperty(metadata, UNREADABLE, { value: reason, enumerable: false });
  return metadata;
}

/** Parses Python's JSON (standard JSON plus NaN, Infinity, -Infinity), keeping every number as written. */
export function parsePythonJson(text: string): unknown {
  return new Parser(text).parse();
}

type Frame = { array: unknown[]; object: null; key: null } | { array: null; object: Record<string, unknown>; key: string };

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const LITERALS: ReadonlyArray<[string, unknown]> = [
  ["true", true],
  ["false", false],
  ["null", null],
  ["NaN", new PythonNumber("NaN")],
  ["Infinity", new PythonNumber("Infinity")],
  ["-Infinity", new PythonNumber("-Infinity")],
];

class Parser {
  private at = 0;

  constructor(private readonly text: string) {}

  parse(): unknown {
    const stack: Frame[] = [];
    this.skipSpace();
    for (;;) {
      let value = this.valueOrOpen(stack);
      if (value === OPENED) continue;
      // A value is complete: add it to its container, closing every container that ends here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          this.skipSpace();
          if (this.at !== this.text.length) this.fail("extra data after the value");
          return value;
        }
        if (top.array !== null) top.array.push(value);
        else setMember(top.object, top.key, value);
        this.skipSpace();
        const next = this.text[this.at];
        if (next === ",") {
          this.at += 1;
          this.skipSpace();
          if (top.object !== null) top.key = this.key();
          break;
        }
        if (next === (top.array !== null ? "]" : "}")) {
          this.at += 1;
          stack.pop();
          value = top.array ?? top.object;
          continue;
        }
        this.fail(`expected ',' or '${top.array !== null ? "]" : "}"}'`);
      }
    }
  }

  /** A scalar, an empty container, or OPENED after pushing a container that has members. */
  private valueOrOpen(stack: Frame[]): unknown {
    const char = this.text[this.at];
    if (char === "{") {
      this.at += 1;
      this.skipSpace();
      const object: Record<string, unknown> = {};
      if (this.text[this.at] === "}") {
        this.at += 1;
        return object;
      }
      stack.push({ array: null, object, key: this.key() });
      return OPENED;
    }
    if (char === "[") {
      this.at += 1;
      this.skipSpace();
      if (this.text[this.at] === "]") {
        this.at += 1;
        return [];
      }
      stack.push({ array: [], object: null, key: null });
      this.skipSpace();
      return OPENED;
    }
    if (char === '"') return this.string();
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (match === null) this.fail(this.at >= this.text.length ? "unexpected end of input" : "expected a value");
    this.at += match[0].length;
    return numberOf(match[0]);
  }

  private key(): string {
    if (this.text[this.at] !== '"') this.fail("expected a property name in double quotes");
    const key = this.string();
    this.skipSpace();
    if (this.text[this.at] !== ":") this.fail("expected ':'");
    this.at += 1;
    this.skipSpace();
    return key;
  }

  /** A string literal; JSON.parse checks its escapes and refuses control characters, as Python does. */
  private string(): string {
    const start = this.at;
    let index = start + 1;
    for (;;) {
      const quote = this.text.indexOf('"', index);
      if (quote < 0) {
        this.at = this.text.length;
        this.fail("unterminated string");
      }
      let backslashes = 0;
      while (this.text[quote - 1 - backslashes] === "\\") backslashes += 1;
      if (backslashes % 2 === 0) {
        this.at = quote + 1;
        try {
          return JSON.parse(this.text.slice(start, quote + 1)) as string;
        } catch {
          this.at = start;
          this.fail("invalid string (a bad escape or a control character)");
        }
      }
      index = quote + 1;
    }
  }

  private skipSpace(): void {
    const text = this.text;
    let at = this.at;
    for (;;) {
      const code = text.charCodeAt(at);
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break;
      at += 1;
    }
    this.at = at;
  }

  private fail(message: string): never {
    throw new SyntaxError(`${message} at character ${this.at + 1}`);
  }
}

const OPENED = Symbol("a container was opened");

/** A plain number when JavaScript writes it back as the same text; else its text. */
function numberOf(text: string): number | PythonNumber {
  const value = Number(text);
  return Number.isFinite(value) && String(value) === text && !Object.is(value, -0) ? value : new PythonNumber(text);
}

/** `object[key] = value`, without `__proto__` setting the prototype (as JSON.parse does). */
function setMember(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}

export interface JsonStyle {
  /**
   * "python": `json.dumps`'s separators and non-ASCII escaped (what pywry stores); "compact":
   * JSON.stringify's; "pretty": JSON.stringify(value, null, 2)'s.
   */
  layout: "python" | "compact" | "pretty";
  /**
   * How NaN, Infinity and -Infinity are written: as Python writes them (not valid JSON), or as
   * strings (for output that must be valid JSON).
   */
  nonFinite: "python" | "string";
}

const PYTHON: JsonStyle = { layout: "python", nonFinite: "python" };

/**
 * JSON the way Python's `json.dumps` writes it (", " and ": " separators, non-ASCII escaped), so
 * rows written here are byte-identical to rows pywry writes. Throws a StoreError for metadata
 * that could not be read: what was not understood is never rewritten.
 */
export function pythonJson(value: unknown): string {
  return jsonText(value, PYTHON);
}

type Task = { value: unknown; depth: number } | string;

const MAX_INDENTED_DEPTH = 64;

/** `value` as JSON text in `style`, every number exactly as it was read. Iterative. */
export function jsonText(value: unknown, style: JsonStyle): string {
  if (style.layout === "compact") {
    const plain = plainJson(value);
    if (plain !== null) return plain;
  }
  return writeJson(value, style);
}

class NeedsExactText extends Error {}

/**
 * Throws NeedsExactText for a value JSON.stringify would write differently from jsonText: a
 * PythonNumber (its exact text), a number that is not finite, a bigint, unreadable metadata.
 * A replacer sees values after toJSON(), so it looks at the holder's own member.
 */
function refuseExactValues(this: unknown, key: string, value: unknown): unknown {
  const own = (this as Record<string, unknown>)[key];
  if (own instanceof PythonNumber || typeof own === "bigint" || (typeof own === "number" && !Number.isFinite(own))) throw new NeedsExactText();
  if (own !== null && typeof own === "object" && UNREADABLE in own) throw new NeedsExactText();
  return value;
}

/**
 * Compact JSON of plain data by JSON.stringify, about three times faster than writeJson (lists
 * write a million rows); null when the value needs writeJson: exact numbers, unreadable
 * metadata, or nesting deeper than the stack (RangeError).
 */
function plainJson(value: unknown): string | null {
  try {
    return JSON.stringify(value, refuseExactValues) ?? null;
  } catch (error) {
    if (error instanceof NeedsExactText || error instanceof RangeError) return null;
    throw error;
  }
}

function writeJson(value: unknown, style: JsonStyle): string {
  const pretty = style.layout === "pretty";
  const comma = style.layout === "python" ? ", " : ",";
  const colon = style.layout === "compact" ? ":" : ": ";
  const quote = style.layout === "python" ? pythonString : (text: string) => JSON.stringify(text);
  const parts: string[] = [];
  const tasks: Task[] = [{ value, depth: 0 }];
  while (tasks.length > 0) {
    const task = tasks.pop()!;
    if (typeof task === "string") {
      parts.push(task);
      continue;
    }
    const { depth } = task;
    const item = toJsonValue(task.value);
    if (item === null || typeof item !== "object" || item instanceof PythonNumber) {
      parts.push(scalarText(item, style, quote));
      continue;
    }
    const reason = unreadableReason(item);
    if (reason !== null) throw unreadableError(reason);
    const isArray = Array.isArray(item);
    const members: Array<[string | null, unknown]> = isArray
      ? (item as unknown[]).map((element) => [null, element])
      : Object.entries(item).filter(([, member]) => writable(toJsonValue(member)));
    if (members.length === 0) {
      parts.push(isArray ? "[]" : "{}");
      continue;
    }
    // Deeper than MAX_INDENTED_DEPTH, "pretty" goes on without line breaks: indenting every level
    // would make the text grow with the square of the depth.
    const indented = pretty && depth < MAX_INDENTED_DEPTH;
    const inner = indented ? `\n${"  ".repeat(depth + 1)}` : "";
    const close = `${indented ? `\n${"  ".repeat(depth)}` : ""}${isArray ? "]" : "}"}`;
    parts.push(isArray ? "[" : "{");
    // Pushed in reverse: the stack pops the first member first.
    tasks.push(close);
    for (let index = members.length - 1; index >= 0; index -= 1) {
      const [key, member] = members[index]!;
      tasks.push({ value: member, depth: depth + 1 });
      tasks.push(`${index > 0 ? (indented ? "," : comma) : ""}${inner}${key === null ? "" : `${quote(key)}${colon}`}`);
    }
  }
  return parts.join("");
}

/** What JSON.stringify would write for a value: its toJSON() when it has one. */
function toJsonValue(value: unknown): unknown {
  if (value !== null && typeof value === "object" && !(value instanceof PythonNumber) && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return (value as { toJSON: () => unknown }).toJSON();
  }
  return value;
}

/** Object members JSON.stringify leaves out: undefined, functions, symbols. */
function writable(value: unknown): boolean {
  return value !== undefined && typeof value !== "function" && typeof value !== "symbol";
}

function scalarText(value: unknown, style: JsonStyle, quote: (text: string) => string): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof PythonNumber) return numberText(value.text, style);
  if (typeof value === "number") {
    if (Number.isFinite(value)) return String(value);
    return numberText(Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity", style);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  // null, and in arrays what JSON.stringify writes as null (undefined, functions, symbols).
  return "null";
}

function numberText(text: string, style: JsonStyle): string {
  const nonFinite = text === "NaN" || text === "Infinity" || text === "-Infinity";
  return nonFinite && style.nonFinite === "string" ? `"${text}"` : text;
}

function pythonString(text: string): string {
  return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A deep copy of JSON data (PythonNumbers are immutable and shared; unreadable marks are kept). Iterative. */
export function cloneJson<T>(value: T): T {
  const copyOf = (item: unknown): unknown => {
    if (item === null || typeof item !== "object" || item instanceof PythonNumber) return item;
    const copy: unknown = Array.isArray(item) ? [] : {};
    const reason = unreadableReason(item);
    if (reason !== null) Object.defineProperty(copy, UNREADABLE, { value: reason, enumerable: false });
    pending.push([item, copy]);
    return copy;
  };
  const pending: Array<[unknown, unknown]> = [];
  const root = copyOf(value);
  while (pending.length > 0) {
    const [source, target] = pending.pop()!;
    if (Array.isArray(source)) for (const element of source) (target as unknown[]).push(copyOf(element));
    else for (const [key, member] of Object.entries(source as object)) setMember(target as Record<string, unknown>, key, copyOf(member));
  }
  return root as T;
}
