/** The verification hot path's SHA-256 and HMAC-SHA256, checked against node:crypto. */
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { HmacSha256Key, hmacKeyFor, sha256Hex } from "../../src/core/sha256.js";

/** Texts of every length from 0 to 300 UTF-8 bytes (every padding case and block boundary). */
function asciiTexts(): string[] {
  return Array.from({ length: 301 }, (_, length) => "abcdefghijklmnopqrstuvwxyz0123456789:".repeat(9).slice(0, length));
}

const UNICODE = ["é", "€", "😀", "ü:1764000001:0", "日本語のユーザー", "\ud800 lone surrogate", "\u0000nul", "a\u2028b"];

describe("sha256Hex", () => {
  test("equals node:crypto for every length across block boundaries", () => {
    for (const text of asciiTexts()) assert.equal(sha256Hex(text), createHash("sha256").update(text, "utf8").digest("hex"), `length ${text.length}`);
  });

  test("encodes text as UTF-8 the way node:crypto does, lone surrogates included", () => {
    for (const text of UNICODE) assert.equal(sha256Hex(text), createHash("sha256").update(text, "utf8").digest("hex"), JSON.stringify(text));
  });

  test("hashes text longer than its scratch buffer", () => {
    const text = "x".repeat(70_000) + "é".repeat(10_000);
    assert.equal(sha256Hex(text), createHash("sha256").update(text, "utf8").digest("hex"));
    assert.equal(sha256Hex("after"), createHash("sha256").update("after").digest("hex"));
  });
});

describe("HmacSha256Key", () => {
  const secrets = ["s", "test-secret", randomBytes(32).toString("hex"), "k".repeat(64), "k".repeat(65), "ключ-🔑".repeat(20)];

  test("equals node:crypto's HMAC for short, block-sized and long keys and every message length", () => {
    for (const secret of secrets) {
      const key = new HmacSha256Key(secret);
      for (const message of [...asciiTexts(), ...UNICODE]) {
        assert.equal(key.hex(message), createHmac("sha256", secret).update(message, "utf8").digest("hex"), `${secret.length}/${message.length}`);
      }
    }
  });

  test("matchesHex accepts exactly the lowercase hex MAC", () => {
    const key = hmacKeyFor("test-secret");
    const message = "alice:1764000001:0";
    const mac = createHmac("sha256", "test-secret").update(message).digest("hex");
    assert.equal(key.matchesHex(message, mac), true);
    assert.equal(key.matchesHex(message, mac.toUpperCase()), false, "pywry compares hex text: uppercase is a mismatch");
    assert.equal(key.matchesHex(`${message}x`, mac), false);
    assert.equal(key.matchesHex(message, mac.slice(0, 63)), false);
    assert.equal(key.matchesHex(message, `${mac.slice(0, 63)}g`), false);
    assert.equal(key.matchesHex(message, `${mac.slice(0, 63)}\u0101`), false);
    for (let position = 0; position < 64; position += 1) {
      const flipped = mac.slice(0, position) + (mac[position] === "0" ? "1" : "0") + mac.slice(position + 1);
      assert.equal(key.matchesHex(message, flipped), false, `digit ${position} changed`);
    }
  });

  test("hmacKeyFor returns one prepared key per secret", () => {
    assert.equal(hmacKeyFor("a-secret"), hmacKeyFor("a-secret"));
    assert.notEqual(hmacKeyFor("a-secret"), hmacKeyFor("another-secret"));
  });

  test("random messages and keys agree with node:crypto", () => {
    for (let round = 0; round < 500; round += 1) {
      const secret = randomBytes(1 + (round % 100)).toString("base64");
      const message = randomBytes(round % 200).toString("latin1");
      assert.equal(new HmacSha256Key(secret).hex(message), createHmac("sha256", secret).update(message, "utf8").digest("hex"));
    }
  });
});
