/**
 * Streaming line input and output for the bulk commands (`verify --stdin`, `session import`,
 * `session export`): lines are read in batches and the next batch is read only after the
 * previous one's output was accepted, so memory stays flat however long the input is.
 */
import { once } from "node:events";
import { StringDecoder } from "node:string_decoder";

/** One batch of input lines; `null` stands for a line longer than the limit (its text is dropped). */
export interface LineBatch {
  /** The 1-based number of the first line in `lines`. */
  first: number;
  lines: Array<string | null>;
}

export interface LineOptions {
  /** Lines per batch. */
  batchSize: number;
  /** Longer lines are reported as null, without being held in memory. */
  maxLineLength: number;
}

/**
 * Splits a byte stream into lines (LF or CRLF; a last line without a newline counts, an empty
 * input has no lines), decoded as UTF-8, in batches of `batchSize`.
 */
export async function* lineBatches(input: AsyncIterable<Buffer | string>, options: LineOptions): AsyncGenerator<LineBatch> {
  const decoder = new StringDecoder("utf8");
  const { batchSize, maxLineLength } = options;
  // The text of the line being read so far; `overlong` once it is past the limit (then dropped).
  let pending = "";
  let overlong = false;
  let batch: Array<string | null> = [];
  let first = 1;

  const take = (text: string): void => {
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      const end = newline < 0 ? text.length : newline;
      // +1: room for the "\r" of a CRLF line ending.
      if (!overlong && pending.length + (end - start) > maxLineLength + 1) {
        overlong = true;
        pending = "";
      }
      if (newline < 0) {
        if (!overlong) pending += text.slice(start);
        return;
      }
      if (overlong) {
        batch.push(null);
        overlong = false;
      } else {
        batch.push(withoutCarriageReturn(pending.length > 0 ? pending + text.slice(start, end) : text.slice(start, end)));
        pending = "";
      }
      start = newline + 1;
    }
  };

  for await (const chunk of input) {
    take(typeof chunk === "string" ? chunk : decoder.write(chunk));
    if (batch.length >= batchSize) {
      let offset = 0;
      for (; batch.length - offset >= batchSize; offset += batchSize) {
        yield { first, lines: batch.slice(offset, offset + batchSize) };
        first += batchSize;
      }
      batch = batch.slice(offset);
    }
  }
  take(decoder.end());
  if (overlong) batch.push(null);
  else if (pending.length > 0) batch.push(withoutCarriageReturn(pending));
  for (let offset = 0; offset < batch.length; offset += batchSize) {
    const lines = batch.slice(offset, offset + batchSize);
    yield { first, lines };
    first += lines.length;
  }
}

function withoutCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** Writes `text`, waiting for the stream to drain when its buffer is full (backpressure). */
export async function writeChunk(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (text.length === 0) return;
  if (!stream.write(text)) await once(stream, "drain");
}

/** Progress on stderr, only at a terminal: one line, rewritten in place, cleared by `done`. */
export class Progress {
  private readonly enabled: boolean;
  private shown = false;
  private lastAt = 0;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = Boolean(stream.isTTY);
  }

  /** Shows `text`, at most ten times a second unless `force`. */
  update(text: string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastAt < 100) return;
    this.lastAt = now;
    this.stream.write(`\r\u001b[2K${text}`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.stream.write("\r\u001b[2K");
    this.shown = false;
  }
}
