/**
 * Minting a token that nobody holds yet and recording it in the store: shared by `token create`,
 * `widget-token` and `token renew`.
 */
import { handleForHash, sha256Hex } from "../core/handles.js";
import type { MintedToken } from "../core/token.js";
import type { AuthStore, TokenKind, TokenRecord } from "../store/types.js";
import type { CliClock } from "./clock.js";

/** A token nobody holds yet (neither the registry nor a session), minted at `clock`'s time. */
export async function mintUnused(
  store: AuthStore,
  clock: CliClock,
  mint: (now: number) => MintedToken,
  avoidHash?: string,
): Promise<{ minted: MintedToken; now: number }> {
  // Tokens carry whole seconds: the same subject and lifetime minted twice within one second is
  // the same token. Wait for the next second rather than hand out (and register) a duplicate,
  // whether the registry has it or a session has it as its id (a pywry login, which the
  // registry never sees).
  for (;;) {
    const now = clock.now();
    const minted = mint(now);
    const tokenHash = sha256Hex(minted.token);
    if (tokenHash !== avoidHash && !(await tokenInUse(store, minted.token))) return { minted, now };
    await clock.sleep(1000 - ((now * 1000) % 1000) + 5);
  }
}

/**
 * Mints a token nobody holds yet and records it with `record`. Another process minting for the
 * same subject and lifetime in the same second makes the very same token, and may record it
 * between our check and our write: our write then fails (the registry already has it), and we
 * mint again in the next second instead of reporting a store error.
 */
export async function mintAndRecord<T>(
  store: AuthStore,
  clock: CliClock,
  mint: (now: number) => MintedToken,
  record: (minted: MintedToken, now: number) => Promise<T>,
  avoidHash?: string,
): Promise<{ minted: MintedToken; now: number; recorded: T }> {
  for (;;) {
    const { minted, now } = await mintUnused(store, clock, mint, avoidHash);
    try {
      return { minted, now, recorded: await record(minted, now) };
    } catch (error) {
      if (!(await inUseAfterAll(store, minted.token))) throw error;
    }
  }
}

/** Whether the registry holds the token or a session (expired ones included) has it as its id. */
async function tokenInUse(store: AuthStore, token: string): Promise<boolean> {
  return (await store.findToken({ tokenHash: sha256Hex(token) })) !== null || (await store.findSession(token)) !== null;
}

async function inUseAfterAll(store: AuthStore, token: string): Promise<boolean> {
  try {
    return await tokenInUse(store, token);
  } catch {
    return false;
  }
}

/**
 * A user-wide revocation rejects the user's tokens issued up to its cut-off, and tokens carry
 * whole seconds: a token minted in the cut-off's own second would be born revoked. Wait it out.
 */
export async function waitPastUserCutoff(store: AuthStore, clock: CliClock, userId: string): Promise<void> {
  const cutoff = await store.findUserCutoff(userId);
  if (cutoff === null) return;
  const waitMs = (Math.floor(cutoff) + 1) * 1000 - clock.now() * 1000;
  if (waitMs > 0 && waitMs <= 1000) await clock.sleep(waitMs + 5);
}

export function registryRecord(
  minted: MintedToken,
  kind: TokenKind,
  now: number,
  label: string | undefined,
  roles: string[] | null,
): TokenRecord {
  const tokenHash = sha256Hex(minted.token);
  return {
    accessor: handleForHash(tokenHash),
    tokenHash,
    kind,
    subject: minted.subject,
    issuedAt: minted.issuedAt,
    expiresAt: minted.expiresAt,
    label: label ?? null,
    roles,
    createdAt: now,
    revokedAt: null,
  };
}

export function accessorOf(minted: MintedToken): string {
  return handleForHash(sha256Hex(minted.token));
}

