/**
 * Finding credentials where they must not be: the secrets, tokens and session ids a run of the
 * CLI used or made, in the outputs of runs that have no business printing them.
 *
 * Used by the hygiene suite (its own scripted session) and by scan-transcript.ts (every run of
 * the end-to-end suite, recorded by test/helpers/cli.ts when PYWRY_AUTH_TRANSCRIPT is set).
 */

/** One CLI run as recorded. */
export interface RecordedRun {
  args: string[];
  /** The variables added to the child's environment. */
  env: Record<string, string>;
  input: string;
  stdout: string;
  stderr: string;
  code: number | null;
  /** Contents of the secret and key files the run could read (the default secret, --secret-file, PYWRY_AUTH_SECRET_FILE, --sqlite-key-file). */
  secretFiles: string[];
}

export interface Sensitive {
  kind: "secret" | "token signature" | "session id";
  value: string;
}

/** Shorter values would match by chance (tests use secrets like "s" too): they are not looked for. */
const MIN_SECRET_LENGTH = 12;
const TOKEN = /[^\s:"'`]{1,200}:[-+]?\d{1,13}:[-+]?\d{1,13}:([0-9a-fA-F]{64})(?![0-9a-fA-F])/g;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** Commands whose standard output is a credential by design (what they mint, or what was asked for). */
export function mayPrintCredentials(args: readonly string[]): boolean {
  const words = args.filter((arg) => !arg.startsWith("-"));
  const has = (...sequence: string[]) => words.join(" ").includes(sequence.join(" "));
  if (args.includes("--reveal")) return true;
  if (has("token", "create") || has("token", "renew") || has("widget-token") || has("session", "create")) return true;
  if (has("secret", "generate") && !args.includes("--out")) return true;
  if (has("session", "export") && !args.includes("--out")) return true;
  return false;
}

/** The secrets, token signatures and session ids that appear anywhere in these runs. */
export function sensitiveValuesOf(runs: readonly RecordedRun[]): Sensitive[] {
  const found = new Map<string, Sensitive>();
  const add = (kind: Sensitive["kind"], value: string) => {
    if (value.length >= MIN_SECRET_LENGTH && !found.has(value)) found.set(value, { kind, value });
  };
  for (const run of runs) {
    add("secret", run.env["PYWRY_AUTH_SECRET"] ?? "");
    add("secret", run.env["PYWRY_SQLITE_KEY"] ?? "");
    for (const previous of (run.env["PYWRY_AUTH_PREVIOUS_SECRETS"] ?? "").split(",")) add("secret", previous.trim());
    for (const content of run.secretFiles) add("secret", content.replace(/[\r\n]+$/, ""));
    const words = run.args.filter((arg) => !arg.startsWith("-"));
    if (words.join(" ").includes("secret generate") && !run.args.includes("--out") && run.code === 0) add("secret", run.stdout.trim());
    for (const text of [run.args.join(" "), run.input, run.stdout, run.stderr]) {
      for (const match of text.matchAll(TOKEN)) add("token signature", (match[1] ?? "").toLowerCase());
    }
    if (words.join(" ").includes("session create") && run.code === 0) {
      const printed = run.stdout.trim();
      if (SESSION_ID.test(printed)) add("session id", printed);
      try {
        const id = (JSON.parse(printed) as { session_id?: unknown }).session_id;
        if (typeof id === "string") add("session id", id);
      } catch {
        // not JSON
      }
    }
  }
  return [...found.values()];
}

/**
 * Where `value` occurs in `text`, or with `pieces` a 16-character piece of it (a truncated token
 * is still a leak); -1 when nowhere. Pieces are looked for only in token signatures and session
 * ids, which are random: test secrets are often made up ("...0123456789abcdef") and their pieces
 * turn up by chance.
 */
export function indexOfPiece(text: string, value: string, pieces = /^[A-Za-z0-9_-]{32,}$/.test(value)): number {
  return indexIn(text.toLowerCase(), value, pieces);
}

/** indexOfPiece on text already in lower case (scanning many values through one text). */
function indexIn(haystack: string, value: string, pieces: boolean): number {
  if (haystack.length === 0) return -1;
  const needle = value.toLowerCase();
  const whole = haystack.indexOf(needle);
  if (whole >= 0 || !pieces) return whole;
  for (let start = 0; start + 16 <= needle.length; start += 8) {
    const at = haystack.indexOf(needle.slice(start, start + 16));
    if (at >= 0) return at;
  }
  return -1;
}

/** Every place a sensitive value shows up where it must not: one line per finding. */
export function findLeaks(runs: readonly RecordedRun[], sensitive: readonly Sensitive[] = sensitiveValuesOf(runs)): string[] {
  const leaks: string[] = [];
  for (const run of runs) {
    const streams: Array<[string, string]> = [["stderr", run.stderr]];
    if (!mayPrintCredentials(run.args)) streams.push(["stdout", run.stdout]);
    for (const [name, text] of streams) {
      const lower = text.toLowerCase();
      for (const { kind, value } of sensitive) {
        const at = indexIn(lower, value, kind !== "secret");
        if (at < 0) continue;
        const context = text.slice(Math.max(0, at - 40), at + 20).replace(/\s+/g, " ");
        leaks.push(`pywry-auth ${run.args.join(" ")}: a ${kind} in ${name} (exit ${run.code}): "...${context}..."`);
      }
    }
  }
  return leaks;
}

/** Scans stored text (audit rows, registry rows, Redis values) for the sensitive values. */
export function findInText(where: string, text: string, sensitive: readonly Sensitive[]): string[] {
  const lower = text.toLowerCase();
  return sensitive
    .filter(({ kind, value }) => indexIn(lower, value, kind !== "secret") >= 0)
    .map(({ kind }) => `${where}: holds a ${kind}`);
}
