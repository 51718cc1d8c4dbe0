import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { endsWithin, scanPosition } from "../../src/store/redis-scan.js";

describe("scanPosition: a SCAN cursor's place in Redis's reverse-binary walk", () => {
  test("follows the order in which Redis visits the buckets of a table of 8", () => {
    const walk = ["0", "4", "2", "6", "1", "5", "3", "7"];
    const positions = walk.slice(1).map(scanPosition);
    positions.forEach((position, index) => {
      if (index > 0) assert.ok(position > positions[index - 1]!, `${walk[index + 1]} comes after ${walk[index]}`);
    });
  });

  test("the cursor 0 that ends a walk comes after every other cursor", () => {
    assert.ok(scanPosition("0") > scanPosition("18446744073709551615"));
  });

  test("is the same place in a grown table: bucket 2 of 4 is where bucket 2 of 8 starts", () => {
    // Growing from 4 to 8 buckets splits bucket 2 (binary 10) into 2 (010) and 6 (110), visited in that order.
    assert.equal(scanPosition("2"), scanPosition("2"));
    assert.ok(scanPosition("2") < scanPosition("6") && scanPosition("6") < scanPosition("1"));
  });
});

describe("endsWithin", () => {
  test("a SCAN call that stops at or before the region's end stayed inside it", () => {
    assert.equal(endsWithin("2", "6"), true);
    assert.equal(endsWithin("6", "6"), true);
    assert.equal(endsWithin("1", "6"), false);
    assert.equal(endsWithin("0", "6"), false);
    assert.equal(endsWithin("7", "0"), true);
  });
});
