/** The bulk commands' line reader: batches, chunk boundaries, CRLF, UTF-8 split across chunks, overlong lines. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { lineBatches, type LineBatch } from "../../src/cli/lines.js";

async function collect(chunks: Array<Buffer | string>, batchSize = 3, maxLineLength = 20): Promise<LineBatch[]> {
  async function* source() {
    for (const chunk of chunks) yield chunk;
  }
  const batches: LineBatch[] = [];
  for await (const batch of lineBatches(source(), { batchSize, maxLineLength })) batches.push(batch);
  return batches;
}

function lines(batches: LineBatch[]): Array<string | null> {
  return batches.flatMap((batch) => batch.lines);
}

describe("lineBatches", () => {
  test("splits on LF and CRLF, keeps a last line without a newline, and numbers batches", async () => {
    const batches = await collect(["a\nb\r\nc\n", "d\ne"]);
    assert.deepEqual(lines(batches), ["a", "b", "c", "d", "e"]);
    assert.deepEqual(batches.map((batch) => [batch.first, batch.lines.length]), [[1, 3], [4, 2]]);
  });

  test("an empty input has no lines; a lone newline is one empty line; blank lines are kept", async () => {
    assert.deepEqual(lines(await collect([])), []);
    assert.deepEqual(lines(await collect(["\n"])), [""]);
    assert.deepEqual(lines(await collect(["a\n\nb\n"])), ["a", "", "b"]);
  });

  test("joins a line split across chunks, UTF-8 characters split mid-byte included", async () => {
    const bytes = Buffer.from("héllo wörld\n😀x\n", "utf8");
    const chunks = Array.from(bytes, (byte) => Buffer.from([byte]));
    assert.deepEqual(lines(await collect(chunks)), ["héllo wörld", "😀x"]);
  });

  test("a chunk holding many batches is handed out batch by batch, in order", async () => {
    const text = Array.from({ length: 10 }, (_, index) => `line${index}`).join("\n");
    const batches = await collect([text], 4);
    assert.deepEqual(batches.map((batch) => batch.first), [1, 5, 9]);
    assert.deepEqual(lines(batches), Array.from({ length: 10 }, (_, index) => `line${index}`));
  });

  test("an overlong line is null (its text never kept), in one chunk or spread over many", async () => {
    const long = "x".repeat(50);
    assert.deepEqual(lines(await collect([`ok\n${long}\nok2\n`])), ["ok", null, "ok2"]);
    assert.deepEqual(lines(await collect(["ok\n", ...long.match(/.{1,7}/g)!, "\nok2"])), ["ok", null, "ok2"]);
    assert.deepEqual(lines(await collect(["ok\n", long])), ["ok", null], "an overlong last line without a newline");
    assert.deepEqual(lines(await collect([`${"y".repeat(20)}\r\n`])), ["y".repeat(20)], "the limit leaves room for CRLF");
  });
});
