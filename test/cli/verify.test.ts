/**
 * `verify` and `inspect`, end to end. Tokens are either minted by the CLI or built in the test from
 * pywry's wire format (docs/pywry-compatibility.md), and pywry's own vectors are checked through the CLI.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  assertCliError,
  assertExit,
  assertJsonError,
  handleOf,
  nowSeconds,
  okJson,
  parseStdout,
  pywryToken,
  sandboxFor,
  show,
  type CliResult,
} from "../helpers/cli.js";
import { fixturesDir } from "../helpers/paths.js";

const SECRET = "verify-test-secret";
const withSecret = { env: { PYWRY_AUTH_SECRET: SECRET } };

interface Verdict {
  valid: boolean;
  user_id: string | null;
  issued_at: number | null;
  expires_at: number | null;
  signed_with_previous_secret: boolean | null;
  error: { code: string; message: string } | null;
}

interface Inspection {
  subject: string;
  issued_at: number;
  expires_at: number | null;
  expired: boolean;
  signature: "valid" | "invalid" | "unchecked";
  signed_with_previous_secret: boolean | null;
  accessor: string;
  revoked: boolean;
  registry: { accessor: string; kind: string; label: string | null } | null;
}

/** Runs verify --json and returns the verdict, checking that the exit code agrees with it. */
function verdictOf(result: CliResult): Verdict {
  const verdict = parseStdout<Verdict>(result);
  assert.equal(result.code, verdict.valid ? 0 : 1, `exit code must match the verdict\n${show(result)}`);
  return verdict;
}

describe("verify", () => {
  test("a valid token: exit 0, a human 'valid' line, and the claims in --json", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const token = pywryToken("alice", now, now + 3600, SECRET);

    const human = await sb.run(["verify", token], withSecret);
    assertExit(human, 0);
    assert.match(human.stdout, /^valid: token for "alice"$/m);
    assert.equal(human.stderr, "");

    const verdict = okJson<Verdict>(await sb.run(["verify", token, "--json"], withSecret));
    assert.deepEqual(verdict, {
      valid: true,
      user_id: "alice",
      issued_at: now,
      expires_at: now + 3600,
      signed_with_previous_secret: false,
      error: null,
    });
  });

  test("a token minted by `token create` verifies with the secret it created", async (t) => {
    const sb = sandboxFor(t);
    const minted = await sb.run(["token", "create", "--user", "erin", "--no-session"]);
    assertExit(minted, 0);
    const verdict = okJson<Verdict>(await sb.run(["verify", minted.stdout.trim(), "--json"]));
    assert.equal(verdict.valid, true);
    assert.equal(verdict.user_id, "erin");
  });

  test("a tampered signature fails with ERR_TOKEN_SIGNATURE, exit 1", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const token = pywryToken("alice", now, now + 3600, SECRET);
    const last = token.at(-1) === "0" ? "1" : "0";
    const tampered = `${token.slice(0, -1)}${last}`;

    const verdict = verdictOf(await sb.run(["verify", tampered, "--json"], withSecret));
    assert.equal(verdict.valid, false);
    assert.equal(verdict.user_id, null);
    assert.equal(verdict.error?.code, "ERR_TOKEN_SIGNATURE");

    const human = await sb.run(["verify", tampered], withSecret);
    assertExit(human, 1);
    assert.match(human.stdout, /invalid.*ERR_TOKEN_SIGNATURE/);
  });

  test("a payload changed under a valid signature (another user) fails with ERR_TOKEN_SIGNATURE", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const [, issued, expires, signature] = pywryToken("bob", now, now + 3600, SECRET).split(":");
    const verdict = verdictOf(await sb.run(["verify", `admin:${issued}:${expires}:${signature}`, "--json"], withSecret));
    assert.equal(verdict.error?.code, "ERR_TOKEN_SIGNATURE");
  });

  test("--at after the expiry: ERR_TOKEN_EXPIRED; --at just at the expiry is still valid", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const token = pywryToken("alice", now, now + 600, SECRET);
    const expired = verdictOf(await sb.run(["verify", token, "--at", String(now + 601), "--json"], withSecret));
    assert.equal(expired.valid, false);
    assert.equal(expired.error?.code, "ERR_TOKEN_EXPIRED");
    const boundary = verdictOf(await sb.run(["verify", token, "--at", new Date((now + 600) * 1000).toISOString(), "--json"], withSecret));
    assert.equal(boundary.valid, true, "pywry expires a token only when expires_at < now");
  });

  test("a malformed token: ERR_TOKEN_MALFORMED, exit 1", async (t) => {
    const sb = sandboxFor(t);
    const verdict = verdictOf(await sb.run(["verify", "not-a-token", "--json"], withSecret));
    assert.equal(verdict.valid, false);
    assert.equal(verdict.error?.code, "ERR_TOKEN_MALFORMED");
  });

  test("`-` reads the token from stdin (trailing newline ignored)", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const token = pywryToken("carol", now, null, SECRET);
    const verdict = okJson<Verdict>(await sb.run(["verify", "-", "--json"], { ...withSecret, input: `${token}\n` }));
    assert.equal(verdict.valid, true);
    assert.equal(verdict.user_id, "carol");
    assert.equal(verdict.expires_at, null);
  });

  test("`-` with two lines on stdin is a usage error", async (t) => {
    const sb = sandboxFor(t);
    const token = pywryToken("carol", nowSeconds(), null, SECRET);
    assertCliError(await sb.run(["verify", "-"], { ...withSecret, input: `${token}\n${token}\n` }), 2, /one token/);
  });

  test("with no secret configured: exit 3, a hint, and no secret file is created", async (t) => {
    const sb = sandboxFor(t);
    const token = pywryToken("alice", nowSeconds(), null, SECRET);
    const result = await sb.run(["verify", token]);
    assertCliError(result, 3, /no signing secret configured/);
    assert.match(result.stderr, /--secret-file/);
    assert.equal(existsSync(sb.secretFile), false);
    assert.equal(existsSync(sb.path(".config")), false);

    assertJsonError(await sb.run(["verify", token, "--json"]), 3, "ERR_NO_SECRET");
  });

  test("--secret-file is used (its trailing newline is not part of the secret)", async (t) => {
    const sb = sandboxFor(t);
    const file = sb.path("app-secret");
    writeFileSync(file, "file-secret\n", { mode: 0o600 });
    const token = pywryToken("dave", nowSeconds(), null, "file-secret");
    const verdict = okJson<Verdict>(await sb.run(["--secret-file", file, "verify", token, "--json"]));
    assert.equal(verdict.valid, true);
    // The file wins over PYWRY_AUTH_SECRET.
    const overridden = okJson<Verdict>(await sb.run(["--secret-file", file, "verify", token, "--json"], withSecret));
    assert.equal(overridden.valid, true);
  });

  test("--secret-file given the secret itself by mistake: exit 3, and the secret is printed nowhere", async (t) => {
    const sb = sandboxFor(t);
    const token = pywryToken("dave", nowSeconds(), null, "whatever");
    for (const pasted of ["0f".repeat(32), "q1W+/e2r3T4y5U6i7O8p9A0s1D2f3G4h5J6k7L8z9X0c1V2=", "a".repeat(40)]) {
      const result = await sb.run(["--secret-file", pasted, "verify", token]);
      assertCliError(result, 3, /looks like a secret itself/);
      assert.ok(!result.stderr.includes(pasted) && !result.stdout.includes(pasted), show(result));
      const json = await sb.run(["--secret-file", pasted, "verify", token, "--json"]);
      assertJsonError(json, 3, "ERR_SECRET");
      assert.ok(!json.stdout.includes(pasted) && !json.stderr.includes(pasted), show(json));
    }
    // A missing file typed as a path is still named, so the typo can be seen.
    assertCliError(await sb.run(["--secret-file", sb.path("no-such-secret"), "verify", token]), 3, /no-such-secret: no such file/);
  });

  test("key rotation: a token signed with the old secret is valid while PYWRY_AUTH_PREVIOUS_SECRETS lists it", async (t) => {
    const sb = sandboxFor(t);
    const minted = await sb.run(["token", "create", "--user", "alice", "--no-session"], { env: { PYWRY_AUTH_SECRET: "old-secret" } });
    assertExit(minted, 0);
    const token = minted.stdout.trim();

    const rotated = okJson<Verdict>(
      await sb.run(["verify", token, "--json"], { env: { PYWRY_AUTH_SECRET: "new-secret", PYWRY_AUTH_PREVIOUS_SECRETS: "older-secret,old-secret" } }),
    );
    assert.equal(rotated.valid, true);
    assert.equal(rotated.signed_with_previous_secret, true);

    const retired = verdictOf(await sb.run(["verify", token, "--json"], { env: { PYWRY_AUTH_SECRET: "new-secret" } }));
    assert.equal(retired.valid, false);
    assert.equal(retired.error?.code, "ERR_TOKEN_SIGNATURE");
  });

  test("--user requires that subject: another user's token fails with ERR_TOKEN_SUBJECT", async (t) => {
    const sb = sandboxFor(t);
    const token = pywryToken("alice", nowSeconds(), null, SECRET);
    const verdict = verdictOf(await sb.run(["verify", token, "--user", "bob", "--json"], withSecret));
    assert.equal(verdict.error?.code, "ERR_TOKEN_SUBJECT");
  });

  test("a revoked token fails with ERR_TOKEN_REVOKED, but --offline does not consult the store", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<{ token: string }>(await sb.run(["token", "create", "--user", "bob", "--json"], withSecret));
    assertExit(await sb.run(["revoke", created.token], withSecret), 0);

    const revoked = verdictOf(await sb.run(["verify", created.token, "--json"], withSecret));
    assert.equal(revoked.valid, false);
    assert.equal(revoked.error?.code, "ERR_TOKEN_REVOKED");

    const offline = okJson<Verdict>(await sb.run(["verify", created.token, "--offline", "--json"], withSecret));
    assert.equal(offline.valid, true);
  });

  test("with --store pointing at a missing file it is exit 3 (a typo must not skip the revocation check) and creates nothing", async (t) => {
    const sb = sandboxFor(t);
    const missing = sb.path("no-such-dir", "pywry.db");
    const token = pywryToken("alice", nowSeconds(), null, SECRET);
    assertJsonError(await sb.run(["--store", missing, "verify", token, "--json"], withSecret), 3, "ERR_STORE");
    assert.equal(existsSync(missing), false);
    assert.equal(existsSync(sb.path("no-such-dir")), false);
    assert.equal(existsSync(sb.defaultStore), false);
  });
});

describe("verify: pywry's own token vectors", () => {
  interface Expectation {
    now: number;
    valid: boolean;
    user_id: string | null;
    error_kind: "format" | "parse" | "expired" | "signature" | null;
  }
  interface Vector {
    kind: "session" | "widget" | "malformed_or_tampered" | "wrong_secret";
    secret: string;
    token: string;
    user_id?: string;
    widget_id?: string;
    expires_at?: number | null;
    expect?: Expectation;
    expect_at_issue_plus_1?: Expectation;
    expect_after_ttl?: Expectation;
  }
  const { vectors } = JSON.parse(readFileSync(join(fixturesDir, "pywry-token-vectors.json"), "utf8")) as { vectors: Vector[] };
  const CODE_FOR_KIND = { format: "ERR_TOKEN_MALFORMED", parse: "ERR_TOKEN_MALFORMED", expired: "ERR_TOKEN_EXPIRED", signature: "ERR_TOKEN_SIGNATURE" };

  function pick(predicate: (vector: Vector) => boolean, count = 1): Vector[] {
    const found = vectors.filter(predicate).slice(0, count);
    assert.equal(found.length, count, "the vectors file has the cases this test expects");
    return found;
  }

  const sessions = [
    // test-secret, alice: never expires / expires 2100 / expired in 2023
    ...pick((v) => v.kind === "session" && v.secret === "test-secret" && v.user_id === "alice", 3),
    ...pick((v) => v.kind === "session" && v.secret === "test-secret" && v.user_id === "ünïcødé"),
    ...pick((v) => v.kind === "session" && v.secret === "test-secret" && v.user_id === "a b"),
    ...pick((v) => v.kind === "session" && v.secret === "test-secret" && v.user_id === ""),
    ...pick((v) => v.kind === "session" && /^[0-9a-f]{64}$/.test(v.secret) && v.expires_at === 4102444800),
    ...pick((v) => v.kind === "session" && /[^\x00-\x7f]/.test(v.secret) && v.expires_at === null),
  ];
  const malformed = [
    ...pick((v) => v.kind === "malformed_or_tampered" && v.expect?.error_kind === "signature", 3),
    ...pick((v) => v.kind === "malformed_or_tampered" && v.token.startsWith(" ")),
    ...pick((v) => v.kind === "malformed_or_tampered" && v.expect?.error_kind === "format", 2),
    ...pick((v) => v.kind === "malformed_or_tampered" && v.token === ""),
    ...pick((v) => v.kind === "malformed_or_tampered" && v.expect?.error_kind === "parse", 2),
    ...pick((v) => v.kind === "wrong_secret"),
  ];
  const cases: Array<{ name: string; vector: Vector; expectation: Expectation; args: string[] }> = [
    ...[...sessions, ...malformed].map((vector) => ({
      name: `${vector.kind} ${JSON.stringify(vector.token.slice(0, 40))} (secret ${JSON.stringify(vector.secret.slice(0, 12))})`,
      vector,
      expectation: vector.expect as Expectation,
      args: [],
    })),
    ...pick((v) => v.kind === "widget" && v.widget_id === "w1").flatMap((vector) => [
      { name: "widget w1 one second after issue", vector, expectation: vector.expect_at_issue_plus_1 as Expectation, args: ["--widget", "w1"] },
      { name: "widget w1 after its ttl", vector, expectation: vector.expect_after_ttl as Expectation, args: ["--widget", "w1"] },
    ]),
    ...pick((v) => v.kind === "widget" && v.widget_id === "grid:main").map((vector) => ({
      name: "widget grid:main (pywry mints it, it never validates)",
      vector,
      expectation: vector.expect_at_issue_plus_1 as Expectation,
      args: [],
    })),
  ];

  for (const { name, vector, expectation, args } of cases) {
    test(`${name}: ${expectation.valid ? "valid" : expectation.error_kind}`, async (t) => {
      const sb = sandboxFor(t);
      const result = await sb.run(["verify", vector.token, "--at", String(expectation.now), ...args, "--json"], {
        env: { PYWRY_AUTH_SECRET: vector.secret },
      });
      const verdict = verdictOf(result);
      assert.equal(verdict.valid, expectation.valid, show(result));
      assert.equal(verdict.user_id, expectation.user_id);
      if (expectation.error_kind === null) assert.equal(verdict.error, null);
      else assert.equal(verdict.error?.code, CODE_FOR_KIND[expectation.error_kind], show(result));
    });
  }
});

describe("inspect", () => {
  test("decodes a token without any secret and says the signature was not checked", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const token = pywryToken("alice", now, now + 300, "someone-elses-secret");

    const human = await sb.run(["inspect", token]);
    assertExit(human, 0);
    assert.match(human.stdout, /^subject\s+"alice"$/m);
    assert.match(human.stdout, /^signature\s+not checked/m);
    assert.equal(existsSync(sb.path(".config")), false, "inspect creates neither secret nor store");

    const inspected = okJson<Inspection>(await sb.run(["inspect", token, "--json"]));
    assert.equal(inspected.subject, "alice");
    assert.equal(inspected.issued_at, now);
    assert.equal(inspected.expires_at, now + 300);
    assert.equal(inspected.expired, false);
    assert.equal(inspected.signature, "unchecked");
    assert.equal(inspected.accessor, handleOf(token));
    assert.equal(inspected.registry, null);
  });

  test("with a secret it reports the signature as valid or invalid", async (t) => {
    const sb = sandboxFor(t);
    const now = nowSeconds();
    const good = okJson<Inspection>(await sb.run(["inspect", pywryToken("bob", now, null, SECRET), "--json"], withSecret));
    assert.equal(good.signature, "valid");
    assert.equal(good.signed_with_previous_secret, false);

    const bad = await sb.run(["inspect", pywryToken("bob", now, null, "wrong"), "--json"], withSecret);
    assert.equal(bad.code, 1, "an invalid signature exits 1, as verify does");
    assert.equal(parseStdout<Inspection>(bad).signature, "invalid");
    const badHuman = await sb.run(["inspect", pywryToken("bob", now, null, "wrong")], withSecret);
    assert.match(badHuman.stdout, /^signature\s+INVALID/m);
  });

  test("shows the registry accessor when the store knows the token", async (t) => {
    const sb = sandboxFor(t);
    const created = okJson<{ token: string; accessor: string }>(
      await sb.run(["token", "create", "--user", "alice", "--label", "ci", "--json"], withSecret),
    );
    const inspected = okJson<Inspection>(await sb.run(["inspect", created.token, "--json"], withSecret));
    assert.equal(inspected.signature, "valid");
    assert.equal(inspected.registry?.accessor, created.accessor);
    assert.equal(inspected.registry?.kind, "session");
    assert.equal(inspected.registry?.label, "ci");
    const human = await sb.run(["inspect", created.token]);
    assert.match(human.stdout, new RegExp(`^accessor\\s+${created.accessor} \\(session token`, "m"));
  });

  test("a malformed token is a usage error (exit 2)", async (t) => {
    const sb = sandboxFor(t);
    assertCliError(await sb.run(["inspect", "a:b"]), 2, /cannot decode/);
    assertJsonError(await sb.run(["inspect", "user1:notanint:0:sig", "--json"]), 2, "ERR_TOKEN_MALFORMED");
  });

  test(
    "decodes a token whose expiry is beyond JavaScript's Date range",
    async (t) => {
      const sb = sandboxFor(t);
      const token = pywryToken("alice", 1764000001, 99999999999999, SECRET);
      const inspected = okJson<Inspection>(await sb.run(["inspect", token, "--json"]));
      assert.equal(inspected.expires_at, 99999999999999);
    },
  );
});

describe("widget tokens get one verdict on every path", () => {
  test("a recorded widget token is not a session token for verify, verify --user or can --token, as for the middleware", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const run = (args: string[], input?: string) => sb.run(["--store", store, ...args], { ...withSecret, input });
    // A user whose id is the widget's id, with a live session: pywry would take the widget token as theirs.
    assertExit(await run(["session", "create", "--user", "w1", "--roles", "admin"]), 0);
    const minted = await run(["widget-token", "w1"]);
    assertExit(minted, 0);
    const widget = minted.stdout.trim();
    for (const args of [["verify", "--json", "-"], ["verify", "--json", "--user", "w1", "-"]]) {
      const verdict = parseStdout<Verdict>(await run(args, `${widget}\n`));
      assert.equal(verdict.valid, false, args.join(" "));
      assert.equal(verdict.error?.code, "ERR_TOKEN_KIND", args.join(" "));
    }
    assertExit(await run(["verify", "--widget", "w1", "-"], `${widget}\n`), 0);
    const asked = await run(["can", "read", "--token", "-"], `${widget}\n`);
    assertCliError(asked, 2, /ERR_TOKEN_KIND/);
  });

  test("a recorded session token is not a widget token for verify --widget", async (t) => {
    const sb = sandboxFor(t);
    const store = sb.copyPywryFixture();
    const created = await sb.run(["--store", store, "token", "create", "--user", "chart-1"], withSecret);
    assertExit(created, 0);
    const verdict = parseStdout<Verdict>(await sb.run(["--store", store, "verify", "--json", "--widget", "chart-1", "-"], { ...withSecret, input: created.stdout }));
    assert.equal(verdict.error?.code, "ERR_TOKEN_KIND");
    assertExit(await sb.run(["--store", store, "verify", "--user", "chart-1", "-"], { ...withSecret, input: created.stdout }), 0);
  });
});
