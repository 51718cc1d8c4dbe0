/**
 * Copying records between stores (`pywry-auth migrate`): what counts as new, changed or already
 * there, decided once for every backend. A backend looks up what it holds for the incoming keys,
 * asks `planImport` what to write, and writes that in one atomic step with one audit entry.
 */
import { sha256Hex } from "../core/handles.js";
import { pythonJson } from "../core/pyjson.js";
import { decodeToken } from "../core/token.js";
import type { UserSession } from "../core/session.js";
import type { Revocation, StoreTransfer, TokenRecord, TransferCounts, TransferKind, UserCutoff } from "./types.js";

export const TRANSFER_KINDS: readonly TransferKind[] = ["roles", "sessions", "tokens", "revocations", "cutoffs"];

/** What the target holds for the incoming keys (absent: nothing). */
export interface ExistingRecords {
  roles: Map<string, string[]>;
  sessions: Map<string, UserSession>;
  tokens: Map<string, TokenRecord>;
  revocations: Map<string, Revocation>;
  cutoffs: Map<string, number>;
  /**
   * What bars an incoming session from coming back (see sessionBars): the target's revocations
   * of the incoming session ids' hashes, and its cut-offs of the users they name.
   */
  barringRevocations: Set<string>;
  barringCutoffs: Map<string, number>;
}

/** The keys to look up in the target for `barringRevocations` and `barringCutoffs`. */
export function sessionBars(sessions: readonly UserSession[]): { tokenHashes: string[]; userIds: string[] } {
  const tokenHashes = new Set<string>();
  const userIds = new Set<string>();
  for (const session of sessions) {
    tokenHashes.add(sha256Hex(session.sessionId));
    userIds.add(session.userId);
    const decoded = decodeToken(session.sessionId);
    if (decoded.ok) userIds.add(decoded.claims.subject);
  }
  return { tokenHashes: [...tokenHashes], userIds: [...userIds] };
}

/** The records to write, each complete, and the counts to report. */
export interface ImportPlan {
  counts: TransferCounts;
  roles: Array<[string, string[]]>;
  sessions: UserSession[];
  /** Each one new or an existing entry to overwrite (its revocation time filled in). */
  tokens: TokenRecord[];
  revocations: Revocation[];
  cutoffs: UserCutoff[];
}

export function emptyCounts(): TransferCounts {
  return Object.fromEntries(TRANSFER_KINDS.map((kind) => [kind, { added: 0, updated: 0, unchanged: 0, skipped: 0 }])) as TransferCounts;
}

export function emptyExisting(): ExistingRecords {
  return {
    roles: new Map(),
    sessions: new Map(),
    tokens: new Map(),
    revocations: new Map(),
    cutoffs: new Map(),
    barringRevocations: new Set(),
    barringCutoffs: new Map(),
  };
}

export function changedAnything(counts: TransferCounts): boolean {
  return TRANSFER_KINDS.some((kind) => counts[kind].added + counts[kind].updated > 0);
}

/**
 * Source wins for roles and sessions; a registry entry already revoked stays revoked (only a
 * missing revocation time is filled in); a revocation is never replaced; a cut-off only moves
 * forward, as `revoke --user` never moves one back. A session that a revocation covers, in the
 * target or in the data, is skipped (see isBarred).
 */
export function planImport(data: StoreTransfer, existing: ExistingRecords): ImportPlan {
  const counts = emptyCounts();
  const revoked = new Set([...existing.barringRevocations, ...data.revocations.map((revocation) => revocation.tokenHash)]);
  const cutoffs = new Map(existing.barringCutoffs);
  for (const cutoff of data.cutoffs) cutoffs.set(cutoff.userId, Math.max(cutoff.cutoffAt, cutoffs.get(cutoff.userId) ?? -Infinity));
  const plan: ImportPlan = { counts, roles: [], sessions: [], tokens: [], revocations: [], cutoffs: [] };
  for (const [role, permissions] of data.roles) {
    const wanted = [...new Set(permissions)];
    const held = existing.roles.get(role);
    if (held !== undefined && pythonJson(held) === pythonJson(wanted)) {
      counts.roles.unchanged += 1;
      continue;
    }
    counts.roles[held === undefined ? "added" : "updated"] += 1;
    plan.roles.push([role, wanted]);
  }
  for (const session of data.sessions) {
    if (isBarred(session, revoked, cutoffs)) {
      counts.sessions.skipped += 1;
      continue;
    }
    const held = existing.sessions.get(session.sessionId);
    if (held && sessionText(held) === sessionText(session)) {
      counts.sessions.unchanged += 1;
      continue;
    }
    counts.sessions[held ? "updated" : "added"] += 1;
    plan.sessions.push(session);
  }
  for (const record of data.tokens) {
    const held = existing.tokens.get(record.tokenHash);
    if (!held) {
      counts.tokens.added += 1;
      plan.tokens.push({ ...record });
    } else if (held.revokedAt === null && record.revokedAt !== null) {
      counts.tokens.updated += 1;
      plan.tokens.push({ ...held, revokedAt: record.revokedAt });
    } else {
      counts.tokens.unchanged += 1;
    }
  }
  for (const revocation of data.revocations) {
    if (existing.revocations.has(revocation.tokenHash)) {
      counts.revocations.unchanged += 1;
      continue;
    }
    counts.revocations.added += 1;
    plan.revocations.push({ ...revocation });
  }
  for (const cutoff of data.cutoffs) {
    const held = existing.cutoffs.get(cutoff.userId);
    if (held !== undefined && held >= cutoff.cutoffAt) {
      counts.cutoffs.unchanged += 1;
      continue;
    }
    counts.cutoffs[held === undefined ? "added" : "updated"] += 1;
    plan.cutoffs.push({ ...cutoff });
  }
  return plan;
}

/**
 * Whether a session must not come back: its id is a revoked token, or its user was cut off at or
 * after it was made (`revoke --user` deleted every session made up to then), or its id is a token
 * issued up to its subject's cut-off. The HTTP middleware refuses the same sessions.
 */
function isBarred(session: UserSession, revoked: ReadonlySet<string>, cutoffs: ReadonlyMap<string, number>): boolean {
  if (revoked.has(sha256Hex(session.sessionId))) return true;
  const userCutoff = cutoffs.get(session.userId);
  if (userCutoff !== undefined && session.createdAt <= userCutoff) return true;
  const decoded = decodeToken(session.sessionId);
  if (!decoded.ok) return false;
  const subjectCutoff = cutoffs.get(decoded.claims.subject);
  return subjectCutoff !== undefined && decoded.claims.issuedAt <= subjectCutoff;
}

function sessionText(session: UserSession): string {
  return pythonJson([session.userId, session.roles, session.createdAt, session.expiresAt, session.metadata]);
}
