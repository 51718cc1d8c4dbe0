/**
 * One regression test per problem the security suites found, small and fast. The suites that
 * found them (concurrency, crash, hostile stores, hygiene) keep testing the same at scale.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mintAndRecord, registryRecord } from "../../src/cli/mint.js";
import { StoreError } from "../../src/core/errors.js";
import { sha256Hex } from "../../src/core/handles.js";
import { mintToken } from "../../src/core/token.js";
import { MemorySessionStore } from "../../src/store/memory.js";
import { RedisSessionStore } from "../../src/store/redis/index.js";
import { assertCliError, assertExit, sandboxFor } from "../helpers/cli.js";
import { fakeClock } from "../helpers/clock.js";
import { startRedis, type RedisServer } from "../helpers/redis.js";


describe("found by the concurrency suite: two processes minting the same token in the same second", () => {
  test("the loser of the race mints again in the next second instead of failing with a store error", async () => {
    const store = new MemorySessionStore();
    const mint = (now: number) => mintToken({ subject: "shared", secret: "s", now, expiresAt: Math.trunc(now) + 3600 });
    let raced = false;
    const clock = fakeClock(1_800_000_000.25);
    const { minted } = await mintAndRecord(store, clock, mint, async (token, now) => {
      if (!raced) {
        // Another process records the very same token between our check and our write ...
        raced = true;
        await store.recordIssuedToken(registryRecord(token, "session", now, undefined, ["viewer"]));
        // ... so our write fails, as SQLite's UNIQUE constraint and Redis's existence check make it.
        throw new StoreError("the registry already holds a token with accessor ...");
      }
      return store.recordIssuedToken(registryRecord(token, "session", now, undefined, ["viewer"]));
    });
    assert.ok(raced);
    assert.equal((await store.listTokens({ all: true })).length, 2, "ours and the other process's");
    assert.equal(minted.issuedAt, 1_800_000_001, "minted again in the next second");
    assert.equal(clock.slept.length, 1, "after one wait for that second");
    assert.ok(await store.findToken({ tokenHash: sha256Hex(minted.token) }));
  });

  test("any other failure to record is reported as it is", async () => {
    const store = new MemorySessionStore();
    const mint = (now: number) => mintToken({ subject: "solo", secret: "s", now, expiresAt: Math.trunc(now) + 3600 });
    await assert.rejects(
      mintAndRecord(store, fakeClock(1_800_000_000), mint, async () => {
        throw new StoreError("disk full");
      }),
      { message: "disk full" },
    );
  });
});

// The role edit contract itself (one audited step; no-ops and refusals write nothing) is in the
// store suite (describeSessionStore), on every backend.
describe("found by the concurrency suite: concurrent grants on one role lost each other's permissions", () => {
  describe("on Redis", () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis?.stop());

    test("many clients granting on one role at once: every permission lands", async () => {
      const stores = await Promise.all([0, 1, 2, 3].map(() => RedisSessionStore.connect(redis.url(), { prefix: "race" })));
      try {
        await Promise.all(
          stores.flatMap((store, client) =>
            Array.from({ length: 10 }, (_, n) => store.updateRolePermissions("shared", (before) => [...(before ?? []), `c${client}-${n}`])),
          ),
        );
        assert.equal((await stores[0]!.getRolePermissions("shared"))?.length, 40);
        assert.equal((await stores[0]!.listAudit({ action: "role.set" })).length, 40);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });
  });
});

describe("found by the hygiene suite", () => {
  test("revoking a token cut short is refused (exit 2), not reported as revoked while the real token stays valid", async (t) => {
    const sb = sandboxFor(t);
    const env = { env: { PYWRY_AUTH_SECRET: "regression-secret-0123456789" } };
    const token = (await sb.run(["token", "create", "--user", "alice"], env)).stdout.trim();
    for (const cut of [token.slice(0, -1), token.slice(0, 40), `${token.slice(0, -64)}abc`]) {
      assertCliError(await sb.run(["revoke", "-"], { ...env, input: `${cut}\n` }), 2, /signature must be 64 hex characters .*nothing was revoked/);
    }
    assertExit(await sb.run(["verify", "-"], { ...env, input: `${token}\n` }), 0);
    const audit = JSON.parse(`[${(await sb.run(["--json", "audit"], env)).stdout.trim().split("\n").join(",")}]`) as Array<{ action: string }>;
    assert.deepEqual(audit.map((entry) => entry.action), ["token.mint"]);
  });

  test("a token or secret pasted where the parser does not expect it is not repeated in the error", async (t) => {
    const sb = sandboxFor(t);
    const token = `alice:1795796873:1795883273:${"ab".repeat(32)}`;
    const runs = await Promise.all([
      sb.run([token]),
      sb.run(["session", token]),
      sb.run(["token", "list", "--kind", token]),
      sb.run(["--secrets=hunter2hunter2", "token", "list"]),
      sb.run(["--json", "M_PddF7cZ3xSYz92y5ep-rU9Fb9ZcIXyfWSYPFZk7Ik"]),
    ]);
    for (const result of runs) {
      assertExit(result, 2);
      const text = `${result.stdout}${result.stderr}`;
      for (const secret of ["ab".repeat(32), "hunter2hunter2", "M_PddF7cZ3xSYz92y5ep"]) assert.equal(text.includes(secret), false, text);
      assert.match(text, /not shown: it looks like a token or secret|--secrets=\.\.\./);
    }
    // Ordinary typos are still shown, with commander's suggestion.
    assertCliError(await sb.run(["sesion", "list"]), 2, /unknown command 'sesion' \(Did you mean session\?\)/);
  });
});
