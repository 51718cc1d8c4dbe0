/**
 * jsonText's compact layout, which lists use for every row: plain data is written as
 * JSON.stringify writes it, and whatever JSON.stringify would change (Python's exact numbers,
 * non-finite numbers, unreadable metadata, very deep nesting) still goes through the exact writer.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { jsonText, parsePythonJson, readMetadata, type JsonStyle } from "../../src/core/pyjson.js";

const COMPACT: JsonStyle = { layout: "compact", nonFinite: "string" };

describe("jsonText, compact", () => {
  test("plain JSON data is written exactly as JSON.stringify writes it", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.equal(jsonText(value, COMPACT), JSON.stringify(value));
      }),
      { numRuns: 500 },
    );
  });

  test("numbers pywry stored keep their text, inside plain rows too", () => {
    const metadata = parsePythonJson('{"a": NaN, "b": 1.0, "c": 18446744073709551617, "d": [-0.0, 1e400], "e": -Infinity}');
    assert.equal(
      jsonText({ user_id: "alice", created_at: 1796070790.72, metadata }, COMPACT),
      '{"user_id":"alice","created_at":1796070790.72,"metadata":{"a":"NaN","b":1.0,"c":18446744073709551617,"d":[-0.0,1e400],"e":"-Infinity"}}',
    );
    assert.equal(jsonText({ expires_at: Number.POSITIVE_INFINITY }, COMPACT), '{"expires_at":"Infinity"}');
  });

  test("unreadable metadata is never written, and 20,000 levels of nesting do not overflow", () => {
    assert.throws(() => jsonText({ metadata: readMetadata("not json", "session x") }, COMPACT), /never rewrites what it could not read/);
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let level = 0; level < 20_000; level += 1) deep = (deep["x"] = {}) as Record<string, unknown>;
    assert.equal(jsonText(root, COMPACT), `${'{"x":'.repeat(20_000)}{}${"}".repeat(20_000)}`);
  });
});
