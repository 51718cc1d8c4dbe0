/**
 * The one place that writes to the terminal: human text or `--json`, verdict colours, tables,
 * times, and the error-to-exit-code table.
 */
import type { ChalkInstance } from "chalk";
import { fstatSync, writeSync } from "node:fs";
import { isPywryAuthError } from "../core/errors.js";
import { EXIT, exitCodeFor, UsageError } from "./errors.js";
import { jsonText, type JsonStyle } from "../core/pyjson.js";
import { redactMessage } from "../core/redact.js";
import type { ListPage } from "../store/types.js";
import { LineWriter } from "./lines.js";

/**
 * --json output: JSON.stringify(data, null, 2)'s layout, numbers in metadata exactly as pywry
 * stored them, NaN and ±Infinity (which JSON cannot hold) as strings; deeply nested metadata
 * does not overflow the stack.
 */
const PRETTY: JsonStyle = { layout: "pretty", nonFinite: "string" };
const COMPACT: JsonStyle = { layout: "compact", nonFinite: "string" };

/**
 * Chalk, and the terminal detection it brings (node:tty), loads only when colour is possible:
 * stdout is a terminal, or FORCE_COLOR or a --color flag (which chalk reads) says so, and
 * NO_COLOR does not forbid it. Otherwise chalk would colour at level 0, which is exactly
 * PLAIN_STYLE, so CI runs and pipes skip loading it (cold start).
 */
let chalkModule: typeof import("chalk") | null = null;

/** Loads chalk if colour is possible; the CLI awaits this once before any output is made. */
export async function loadColour(): Promise<void> {
  if (chalkModule === null && colourPossible()) chalkModule = await import("chalk");
}

function colourPossible(): boolean {
  if (process.env["FORCE_COLOR"] !== undefined) return true;
  if (process.env["NO_COLOR"]) return false;
  if (process.argv.some((arg) => /^--(?:no-)?colou?rs?(?:=|$)/.test(arg))) return true;
  return stdoutMayBeTerminal();
}

/**
 * Whether fd 1 is a character device: every terminal is one (so is /dev/null, for which chalk,
 * once loaded, finds no colour). Asking process.stdout.isTTY would build the stdout stream
 * (node:net, node:tty and the stream modules), which commands printing a line or two never need.
 */
function stdoutMayBeTerminal(): boolean {
  try {
    return fstatSync(1).isCharacterDevice();
  } catch {
    return false;
  }
}

let stdoutStreamInUse = false;

/**
 * process.stdout, for commands that stream to it. From the first call on, Output writes through
 * the same stream, so that nothing it prints can overtake what the stream still holds.
 */
export function stdoutStream(): NodeJS.WriteStream {
  if (!stdoutStreamInUse) {
    stdoutStreamInUse = true;
    process.stdout.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") exitAfterEpipe();
    });
  }
  return process.stdout;
}

// `pywry-auth session list | head -1`: a reader that stops early is not an error.
function exitAfterEpipe(): never {
  process.exit(process.exitCode ?? 0);
}

/**
 * Standard output for Output's own writes: straight to fd 1 (synchronous, as process.stdout is
 * for files and pipes on Linux) until a command has asked for the stream, then through it.
 */
const STDOUT: Pick<NodeJS.WritableStream, "write"> = {
  write(text: string | Uint8Array): boolean {
    if (stdoutStreamInUse) return process.stdout.write(text);
    const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
    let written = 0;
    while (written < bytes.length) {
      try {
        written += writeSync(1, bytes, written);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EPIPE") exitAfterEpipe();
        // A non-blocking descriptor that is full: let the stream queue the rest.
        if (code === "EAGAIN") return stdoutStream().write(bytes.subarray(written));
        throw error;
      }
    }
    return true;
  },
};

/** What chalk at level 0 is: every style (and chain of styles) returns its text unchanged. */
const PLAIN_STYLE: ChalkInstance = new Proxy((...texts: unknown[]) => texts.join(" "), {
  get: (_target, property) => (property === "level" ? 0 : PLAIN_STYLE),
}) as unknown as ChalkInstance;

export interface OutputOptions {
  json: boolean;
  /** Print only this field of the JSON result, raw (like `vault -field`). */
  field?: string;
  /** false: never colour; undefined: chalk decides from the TTY, NO_COLOR and FORCE_COLOR. */
  color?: boolean;
  stdout?: Pick<NodeJS.WritableStream, "write">;
  stderr?: NodeJS.WritableStream;
}

export type Column = { header: string; align?: "left" | "right" };

/** Rows a human listing shows at a terminal when no --limit is given. */
export const TERMINAL_ROWS = 1000;

type ListFormat = "table" | "json" | "object" | "ndjson" | "field";

/** How a command's rows are shown: see Output.list. */
export interface ListSpec<T> {
  noun: string;
  plural?: string;
  /** Column headers of the human table. */
  columns: readonly string[];
  cells(row: T): string[];
  /** A row as --json and --json-lines show it; `cursor` continues after it (--after). */
  json(row: T, cursor: string): Record<string, unknown>;
  limit?: number;
  /** --json-lines was given: one JSON object per line. */
  jsonLines?: boolean;
  /** --json is one object per line too (audit's format from the start). */
  jsonIsLines?: boolean;
  /** --json as one object of key: value (roles list's format from the start). */
  jsonObject?: (row: T) => [string, unknown];
  /** The human text for an empty listing. */
  empty?: string;
}

export interface ListSummary {
  shown: number;
  /** Whether rows were left out (by --limit, or at a terminal). */
  more: boolean;
  /** The cursor that continues after the last row shown, when rows were left out. */
  next: string | null;
}

/**
 * Aligned, borderless columns (text-table: linear in the rows, where cli-table3's layout grew
 * quadratically). A stream of pages is laid out page by page; a column's width is the widest
 * cell seen so far, so it never shrinks, and grows (shifting the columns after it) only when a
 * later page holds a wider cell. Widths count what a terminal shows: colour codes take no
 * room, wide characters two.
 */
export class TableLayout {
  private widths: number[] = [];

  private constructor(
    private readonly headers: readonly string[],
    private readonly align: ReadonlyArray<"left" | "right">,
    private readonly textTable: typeof import("text-table"),
    private readonly stringWidth: (text: string) => number,
  ) {}

  static async load(headers: readonly string[], align: ReadonlyArray<"left" | "right">): Promise<TableLayout> {
    const [{ default: textTable }, { default: stringWidth }] = await Promise.all([import("text-table"), import("string-width")]);
    return new TableLayout(headers, align, textTable, stringWidth);
  }

  /** The rows as lines (with the header line first when `header`), without a final newline. */
  render(rows: readonly (readonly string[])[], header = true): string {
    const lines: Array<readonly string[]> = header ? [this.headers, ...rows] : [...rows];
    if (lines.length === 0) return "";
    // text-table measures each page on its own: a first row padded to the widths so far keeps
    // the columns where earlier pages put them (right-aligned columns are padded in front).
    const first = [...lines[0]!];
    this.widths.forEach((width, column) => {
      const cell = first[column] ?? "";
      const missing = width - this.width(cell);
      if (missing > 0) first[column] = this.align[column] === "right" ? " ".repeat(missing) + cell : cell + " ".repeat(missing);
    });
    lines[0] = first;
    const widths = this.widths;
    for (const line of lines) {
      for (let column = 0; column < line.length; column += 1) {
        const width = this.width(line[column]!);
        if (!(width <= widths[column]!)) widths[column] = width;
      }
    }
    return this.textTable(lines as string[][], { hsep: "  ", align: this.align.map((side) => (side === "right" ? "r" : "l")), stringLength: this.width });
  }

  private readonly width = (text: string): number => (PLAIN_TEXT.test(text) ? text.length : this.stringWidth(text));
}

// Printable ASCII only: as wide as it is long (the common case, measured without string-width).
const PLAIN_TEXT = /^[\x20-\x7e]*$/;

export class Output {
  readonly json: boolean;
  readonly style: ChalkInstance;
  readonly field: string | undefined;
  /** Errors as JSON only when --json was asked for, not when --field implied JSON. */
  private readonly jsonErrors: boolean;
  private readonly stdout: Pick<NodeJS.WritableStream, "write">;
  /** The stdout a caller gave (tests), for list(); otherwise lists stream to process.stdout. */
  private readonly customStdout: Pick<NodeJS.WritableStream, "write"> | undefined;
  // process.stderr is built on first use only: a valid token's check never writes to it.
  private readonly stderr: NodeJS.WritableStream | undefined;

  constructor(options: OutputOptions) {
    this.field = options.field;
    this.json = options.json || options.field !== undefined;
    this.jsonErrors = options.json;
    this.stdout = options.stdout ?? STDOUT;
    this.customStdout = options.stdout;
    this.stderr = options.stderr;
    // JSON is for programs: never coloured, whatever the terminal says. NO_COLOR: see no-color.org.
    const plain = options.json || options.color === false || Boolean(process.env["NO_COLOR"]);
    this.style = plain || chalkModule === null ? PLAIN_STYLE : new chalkModule.Chalk();
  }

  /** Writes the command's result: `human` as text, or `data` as JSON with --json. */
  result(human: string | readonly string[], data: unknown): void {
    if (this.field !== undefined) this.fieldOf(data, this.field);
    else if (this.json) this.stdout.write(`${jsonText(data, PRETTY)}\n`);
    else this.line(typeof human === "string" ? human : human.join("\n"));
  }

  /**
   * One field, raw: strings as they are, anything else as JSON; for a list, the field of each item
   * on its own line. An unknown field prints the whole result too (whatever the command did
   * stays visible) and fails with exit 2.
   */
  private fieldOf(data: unknown, field: string): void {
    const items = Array.isArray(data) ? data : [data];
    const known = new Set(items.flatMap((item) => (item && typeof item === "object" ? Object.keys(item) : [])));
    if (items.length > 0 && !known.has(field)) {
      this.stdout.write(`${jsonText(data, PRETTY)}\n`);
      throw new UsageError(`no field ${JSON.stringify(field)} in the result; fields: ${[...known].join(", ")}`);
    }
    for (const item of items) {
      const value = (item as Record<string, unknown>)[field];
      this.stdout.write(`${typeof value === "string" ? value : jsonText(value ?? null, COMPACT)}\n`);
    }
  }

  line(text: string): void {
    if (text.length > 0) this.stdout.write(`${text}\n`);
  }

  /** Operator-facing remarks: warnings, hints, progress. Always stderr, so stdout stays pipeable. */
  notice(message: string): void {
    (this.stderr ?? process.stderr).write(`${redactMessage(message)}\n`);
  }

  warn(message: string): void {
    this.notice(this.style.yellow(`warning: ${message}`));
  }

  verdict(ok: boolean, text: string): string {
    return ok ? this.style.green.bold(text) : this.style.red.bold(text);
  }

  /** An aligned, borderless table with a count line, loaded only by commands that list things. */
  async table(columns: readonly Column[], rows: readonly (readonly string[])[], noun: string): Promise<string> {
    if (rows.length === 0) return this.style.dim(`no ${noun}s`);
    const layout = await TableLayout.load(columns.map((column) => this.style.bold(column.header)), columns.map((column) => column.align ?? "left"));
    return `${layout.render(rows)}\n${this.style.dim(`${rows.length} ${noun}${rows.length === 1 ? "" : "s"}`)}`;
  }

  /**
   * Writes a listing as it is read, page by page, with backpressure: a table (widths measured
   * per page, see TableLayout), a JSON array, NDJSON (--json-lines), or one field per row
   * (--field). Stops after `limit` rows; at a terminal without --limit, a table stops after
   * TERMINAL_ROWS rows and says how many more there are and how to see them.
   */
  async list<T>(pages: AsyncIterable<ListPage<T>>, spec: ListSpec<T>): Promise<ListSummary> {
    const target = (this.customStdout ?? stdoutStream()) as NodeJS.WritableStream;
    const format = this.listFormat(spec);
    const atTerminal = format === "table" && spec.limit === undefined && Boolean((target as NodeJS.WriteStream).isTTY);
    const cap = spec.limit ?? (atTerminal ? TERMINAL_ROWS : Number.POSITIVE_INFINITY);
    const writer = new LineWriter(target);
    const layout = format === "table" ? await TableLayout.load(spec.columns.map((header) => this.style.bold(header)), []) : null;
    let shown = 0;
    let lastCursor: string | null = null;
    let more = 0;
    const iterator = pages[Symbol.asyncIterator]();
    try {
      for (let page = await iterator.next(); !page.done; page = await iterator.next()) {
        const { rows, cursors } = page.value;
        const take = Math.min(rows.length, cap - shown);
        if (take > 0) {
          if (layout !== null) {
            const cells: string[][] = [];
            for (let index = 0; index < take; index += 1) cells.push(spec.cells(rows[index]!));
            writer.add(`${layout.render(cells, shown === 0)}\n`);
          } else {
            for (let index = 0; index < take; index += 1) writer.add(this.jsonRow(format, spec, rows[index]!, cursors[index]!, shown + index));
          }
          shown += take;
          lastCursor = cursors[take - 1] ?? lastCursor;
          await writer.flush();
        }
        if (shown >= cap) {
          more += rows.length - take;
          // With --limit, whether anything follows is enough; at a terminal, how much.
          if (!atTerminal && more > 0) break;
          if (!atTerminal) {
            const next = await iterator.next();
            if (!next.done) more += next.value.rows.length;
            break;
          }
        }
      }
    } finally {
      await iterator.return?.();
    }
    writer.add(this.listEnd(format, spec, shown, more, lastCursor, atTerminal));
    await writer.flush();
    return { shown, more: more > 0, next: more > 0 ? lastCursor : null };
  }

  private listFormat<T>(spec: ListSpec<T>): ListFormat {
    if (this.field !== undefined) return "field";
    if (spec.jsonLines || (this.json && spec.jsonIsLines)) return "ndjson";
    if (this.json) return spec.jsonObject ? "object" : "json";
    return "table";
  }

  private jsonRow<T>(format: ListFormat, spec: ListSpec<T>, row: T, cursor: string, index: number): string {
    if (format === "object") {
      const [key, value] = spec.jsonObject!(row);
      return `${index === 0 ? "{\n" : ",\n"}  ${JSON.stringify(key)}: ${jsonText(value, COMPACT)}`;
    }
    // jsonText, not JSON.stringify: metadata keeps pywry's numbers exactly and may nest deeply.
    const data = spec.json(row, cursor);
    if (format === "ndjson") return `${jsonText(data, COMPACT)}\n`;
    if (format === "json") return `${index === 0 ? "[\n" : ",\n"}  ${jsonText(data, COMPACT)}`;
    const field = this.field!;
    if (index === 0 && !Object.hasOwn(data, field)) {
      throw new UsageError(`no field ${JSON.stringify(field)} in the result; fields: ${Object.keys(data).join(", ")}`);
    }
    const value = data[field];
    return `${typeof value === "string" ? value : jsonText(value ?? null, COMPACT)}\n`;
  }

  private listEnd<T>(format: ListFormat, spec: ListSpec<T>, shown: number, more: number, cursor: string | null, atTerminal: boolean): string {
    if (format === "json") return shown === 0 ? "[]\n" : "\n]\n";
    if (format === "object") return shown === 0 ? "{}\n" : "\n}\n";
    if (format !== "table") return "";
    const plural = spec.plural ?? `${spec.noun}s`;
    if (shown === 0) return `${this.style.dim(spec.empty ?? `no ${plural}`)}\n`;
    const count = `${shown} ${shown === 1 ? spec.noun : plural}`;
    if (more === 0 || cursor === null) return `${this.style.dim(count)}\n`;
    const next = `--after ${cursor}`;
    const text = atTerminal
      ? `${count} shown; ${more} more not shown: add ${next} (same options) for the next ones, --limit <n> for more at once, or pipe the output or use --json-lines for all of them`
      : `${count} shown; more follow: add ${next} (same options) for the next ones`;
    return `${this.style.dim(text)}\n`;
  }

  /** Reports an error on the right stream, in the right format, and returns the exit code. */
  fail(error: unknown): number {
    const { code, message, exitCode } = describeError(error);
    if (this.jsonErrors) this.stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
    // Stopping at a prompt is the operator's choice, not an error.
    else if (code === "ERR_CANCELLED") this.notice(message);
    else this.notice(`${this.style.red("error:")} ${message}`);
    return exitCode;
  }
}

/** An error's code, message (redacted: see redactMessage) and exit code. */
export function describeError(error: unknown): { code: string; message: string; exitCode: number } {
  const described = describeUnredacted(error);
  return { ...described, message: redactMessage(described.message) };
}

function describeUnredacted(error: unknown): { code: string; message: string; exitCode: number } {
  if (isPywryAuthError(error)) {
    return { code: error.code, message: error.message, exitCode: exitCodeFor(error.code) };
  }
  // Ctrl-C at any prompt: @inquirer/prompts rejects with an ExitPromptError.
  if (error instanceof Error && error.name === "ExitPromptError") {
    return { code: "ERR_CANCELLED", message: "cancelled: nothing was changed", exitCode: EXIT.cancelled };
  }
  // Anything else is a bug in pywry-auth; say so in one line rather than dumping a stack.
  const message = error instanceof Error ? error.message : String(error);
  return { code: "ERR_INTERNAL", message: `internal error: ${message}`, exitCode: EXIT.internal };
}

// Beyond this, JavaScript dates end (year 275760).
const LAST_DATE_SECONDS = 8.64e12;

/** ISO 8601 to the second, in UTC; raw Unix seconds for times no calendar can show. */
export function isoTime(seconds: number): string {
  if (!Number.isFinite(seconds) || Math.abs(seconds) > LAST_DATE_SECONDS) return `${seconds} (Unix seconds)`;
  return new Date(Math.trunc(seconds) * 1000).toISOString().replace(".000Z", "Z");
}

/** "in 4m 59s" / "2h 3m ago": the two largest units, which is as precise as people read. */
export function relativeTime(seconds: number, now: number): string {
  const delta = Math.trunc(seconds - now);
  const text = durationText(Math.abs(delta));
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

export function durationText(totalSeconds: number): string {
  const units: Array<[string, number]> = [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  let rest = Math.trunc(totalSeconds);
  for (const [unit, size] of units) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || (parts.length > 0 && parts.length < 2)) parts.push(`${count}${unit}`);
    if (parts.length === 2) break;
  }
  return parts.length === 0 ? "0s" : parts.join(" ");
}

/** "2026-11-27T15:00:00Z (in 4m 59s)", or "never". */
export function whenText(seconds: number | null, now: number): string {
  return seconds === null ? "never" : `${isoTime(seconds)} (${relativeTime(seconds, now)})`;
}
