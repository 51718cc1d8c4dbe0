import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { handleFor, sha256Hex } from "../../src/core/handles.js";

describe("sha256Hex", () => {
  test("is SHA-256 of the UTF-8 text in lowercase hex (FIPS 180-2 test vector)", () => {
    assert.equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  test("hashes non-ASCII text as UTF-8, as pywry-made ids are", () => {
    for (const text of ["é", "日本語", "user-😀", ""]) {
      assert.equal(sha256Hex(text), createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex"), text);
    }
  });
});

describe("handleFor", () => {
  test("is the first 16 hex digits of the SHA-256", () => {
    assert.equal(handleFor("abc"), "ba7816bf8f01cfea");
  });
});
