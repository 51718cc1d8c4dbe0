/**
 * Copying records between stores (`pywry-auth migrate`): what counts as new, changed or already
 * there, decided once for every backend. A backend looks up what it holds for the incoming keys,
 * asks `planImport` what to write, and writes that in one atomic step with one audit entry.
 */
import { pythonJson } from "../core/pyjson.js";
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
  return Object.fromEntries(TRANSFER_KINDS.map((kind) => [kind, { added: 0, updated: 0, unchanged: 0 }])) as TransferCounts;
}

export function emptyExisting(): ExistingRecords {
  return { roles: new Map(), sessions: new Map(), tokens: new Map(), revocations: new Map(), cutoffs: new Map() };
}

export function changedAnything(counts: TransferCounts): boolean {
  return TRANSFER_KINDS.some((kind) => counts[kind].added + counts[kind].updated > 0);
}

/**
 * Source wins for roles and sessions; a registry entry already revoked stays revoked (only a
 * missing revocation time is filled in); a revocation is never replaced; a cut-off only moves
 * forward, as `revoke --user` never moves one back.
 */
export function planImport(data: StoreTransfer, existing: ExistingRecords): ImportPlan {
  const counts = emptyCounts();
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

/** The audit detail of an import: where from, and only the non-zero counts. */
export function importAuditDetail(counts: TransferCounts, source: string | undefined): Record<string, unknown> {
  const detail: Record<string, unknown> = { source: source ?? null };
  for (const kind of TRANSFER_KINDS) {
    const { added, updated } = counts[kind];
    if (added + updated > 0) detail[kind] = { added, updated };
  }
  return detail;
}

function sessionText(session: UserSession): string {
  return pythonJson([session.userId, session.roles, session.createdAt, session.expiresAt, session.metadata]);
}
