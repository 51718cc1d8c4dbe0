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

/**
 * Output lines gathered into Buffers, then written chunk by chunk with backpressure. Encoding each
 * line into a Buffer as it is made is about twice as fast as joining a batch of lines into one
 * string and having the stream encode that (the string has to be flattened and copied first).
 * A Buffer handed to the stream is never reused: a pipe may still be sending it.
 */
export class LineWriter {
  private chunks: Buffer[] = [];
  private buffer: Buffer;
  private used = 0;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly chunkSize = 256 * 1024,
  ) {
    this.buffer = Buffer.allocUnsafe(chunkSize);
  }

  add(text: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    if (this.used + text.length * 3 > this.buffer.length) {
      if (this.used > 0) this.chunks.push(this.buffer.subarray(0, this.used));
      this.buffer = Buffer.allocUnsafe(Math.max(this.chunkSize, text.length * 3));
      this.used = 0;
    }
    this.used += this.buffer.write(text, this.used, "utf8");
  }

  /** Writes everything added so far, waiting for the stream to drain when it asks to. */
  async flush(): Promise<void> {
    if (this.used > 0) {
      this.chunks.push(this.buffer.subarray(0, this.used));
      this.buffer = Buffer.allocUnsafe(this.chunkSize);
      this.used = 0;
    }
    const chunks = this.chunks;
    this.chunks = [];
    for (const chunk of chunks) if (!this.stream.write(chunk)) await once(this.stream, "drain");
  }
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
