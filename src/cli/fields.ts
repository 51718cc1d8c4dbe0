/**
 * The fields of each command's `--json` result, so that `--field` is checked before the command
 * runs: a typo must not create a session and only then fail. An array lists the fields (of each
 * item, for lists); null means the result's keys are data (role names, setting names) that only
 * the result can show; a string says why --field does not apply.
 */
const SESSION = ["handle", "session_id", "user_id", "roles", "created_at", "expires_at", "expired", "metadata"];
/** A listed row also says where it is, for --after. */
const LISTED = "cursor";
const ROLE = ["role", "permissions"];
const NDJSON = "it writes one JSON object per line (use jq to pick fields)";

export const JSON_FIELDS: Record<string, readonly string[] | null | string> = {
  "token create": ["token", "user_id", "issued_at", "expires_at", "session_id", "accessor", "roles"],
  "token renew": ["token", "user_id", "issued_at", "expires_at", "accessor", "replaced", "session_id", "roles"],
  "token list": ["accessor", "kind", "subject", "issued_at", "expires_at", "label", "roles", "created_at", "revoked_at", "status", LISTED],
  "widget-token": ["token", "widget_id", "issued_at", "expires_at", "accessor"],
  verify: ["valid", "user_id", "issued_at", "expires_at", "signed_with_previous_secret", "error"],
  inspect: ["subject", "issued_at", "expires_at", "expired", "signature", "signed_with_previous_secret", "accessor", "revoked", "revoked_by", "registry"],
  revoke: ["revoked", "already_revoked", "known", "accessor", "subject", "user_id", "revoked_at", "cutoff_at", "sessions_deleted"],
  "session create": ["session_id", "handle", "user_id", "roles", "created_at", "expires_at", "metadata"],
  "session list": [...SESSION, LISTED],
  "session show": SESSION,
  "session refresh": ["handle", "expires_at"],
  "session purge": ["purged", "dry_run", "sessions"],
  "session grant": ["handle", "resource", "permissions"],
  "session ungrant": ["handle", "resource", "permissions"],
  "session delete": ["deleted", "handle", "user_id"],
  "session export": NDJSON,
  "session import": ["lines", "batches", "dry_run", "added", "updated", "unchanged", "rejected", "errors"],
  "roles list": null,
  "roles show": ROLE,
  "roles set": ROLE,
  "roles grant": ROLE,
  "roles revoke": ROLE,
  "roles delete": ["role", "deleted"],
  "roles seed": ["added", "reset", "kept", "unchanged"],
  can: ["allowed", "reason", "permission", "from"],
  audit: NDJSON,
  migrate: ["from", "to", "dry_run", "counts", "skipped"],
  init: ["config_file", "config", "secret_created", "pywry_env", "sqlite_key"],
  doctor: ["healthy", "findings"],
  completion: "it prints a shell script",
  "config show": null,
  "secret generate": ["secret", "path", "bytes"],
};

/** Why `field` cannot be printed for the command at `path`, or null when it can (or only the result can say). */
export function fieldProblem(path: string, field: string): string | null {
  const fields = JSON_FIELDS[path];
  if (fields === undefined || fields === null) return null;
  if (typeof fields === "string") return `--field does not apply to ${path}: ${fields}`;
  if (fields.includes(field)) return null;
  return `no field ${JSON.stringify(field)} in the output of ${path}; fields: ${fields.join(", ")}`;
}
