/**
 * The command line's injectable clock (src/cli/clock.ts): a command's action runs with the clock
 * in its Context, and the store it opens keeps the same time, so "the same second" is certain in
 * a test and the wait for the next second costs nothing.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Context } from "../../src/cli/context.js";
import { leafCommands } from "../../src/cli/main.js";
import { waitPastUserCutoff } from "../../src/cli/mint.js";
import { Output } from "../../src/cli/output.js";
import { MemorySessionStore } from "../../src/store/memory.js";
import { fakeClock, type FakeClock } from "../helpers/clock.js";

const T0 = 1_800_000_000.5;
const SECRET = "clock-test-secret-0123456789abcdef";

/** Runs a command's action in this process, as main.ts would, and returns its --json result. */
async function runAction(path: string, context: Context, ...args: unknown[]): Promise<Record<string, unknown>> {
  const command = (await leafCommands()).get(path);
  assert.ok(command, path);
  let printed = "";
  const output = new Output({ json: true, stdout: { write: (chunk: string | Uint8Array) => ((printed += String(chunk)), true) } });
  const code = await command.action(context, output, ...args, context.options);
  assert.equal(code ?? 0, 0, printed);
  return JSON.parse(printed) as Record<string, unknown>;
}

function contextFor(t: { after: (fn: () => void) => void }, clock: FakeClock, options: Record<string, unknown>): Context {
  const home = mkdtempSync(join(tmpdir(), "pywry-auth-clock-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  return {
    options: { store: join(home, "pywry.db"), create: true, json: true, ...options },
    env: { HOME: home, PYWRY_AUTH_SECRET: SECRET },
    notice: () => undefined,
    clock,
  };
}

describe("the CLI's clock", () => {
  test("token create twice in one second: the second token is minted in the next second, after one wait on the clock", async (t) => {
    const clock = fakeClock(T0);
    const context = contextFor(t, clock, {});
    const mint = () => runAction("token create", context, { ...context.options, user: "dup", expiresAt: "4102444800", expiry: true, session: true });
    const first = await mint();
    const second = await mint();
    assert.equal(first["issued_at"], Math.trunc(T0));
    assert.equal(second["issued_at"], Math.trunc(T0) + 1);
    assert.notEqual(first["token"], second["token"]);
    assert.equal(clock.slept.length, 1, "one wait, for the next second");
  });

  test("token list judges expiry by the command's clock", async (t) => {
    const clock = fakeClock(T0);
    const context = contextFor(t, clock, {});
    await runAction("token create", context, { ...context.options, user: "alice", ttl: "60", expiry: true, session: true });
    const listed = (later: number) => runAction("token list", { ...context, clock: fakeClock(later) }, { ...context.options, all: true });
    const [before] = (await listed(T0 + 59)) as unknown as Array<Record<string, unknown>>;
    const [after] = (await listed(T0 + 61)) as unknown as Array<Record<string, unknown>>;
    assert.equal(before?.["status"], "active");
    assert.equal(after?.["status"], "expired");
  });

  test("a user-wide revocation in this second makes a mint wait for the next; an older one does not", async () => {
    const clock = fakeClock(T0);
    const store = new MemorySessionStore({ now: clock.now });
    await store.revokeUser("alice", null);
    await waitPastUserCutoff(store, clock, "alice");
    assert.equal(clock.slept.length, 1);
    assert.ok(clock.now() >= Math.trunc(T0) + 1, `now ${clock.now()} is past the cut-off's second`);
    await waitPastUserCutoff(store, clock, "alice");
    assert.equal(clock.slept.length, 1, "no second wait");
  });
});
