/** Query parameters some Redis clients accept credentials in. */
const SECRET_PARAMS = /^(password|pass|auth)$/i;

/** Store URLs may carry a password (redis://user:pass@host, ?password=): never print it. */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not a URL: hide anything between "//" and "@" that looks like credentials.
    return text.replace(/\/\/[^/@]*@/, "//***@");
  }
  if (url.password) url.password = "***";
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) url.searchParams.set(key, "***");
  }
  return url.toString();
}

/**
 * Whether text pasted where something else belongs looks like a credential: a pywry token
 * (`user:issued:expires:hmac`) or a long run of secret-alphabet characters (hex, base64,
 * base64url). Such text is left out of error messages.
 */
export function looksLikeCredential(text: string): boolean {
  return /:\d+:\d+:/.test(text) || /^[A-Za-z0-9_\-+/=.]{32,}$/.test(text);
}


/** What a message shows instead of something that looks like a credential. */
export const NOT_SHOWN = "(not shown: it looks like a token or secret)";

const URL_WITH_SCHEME = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`]+/gi;
// The values of `--option=value` as commander quotes them, for an option it did not know.
const QUOTED_OPTION_VALUE = /'(--?[^'=\s]+)=[^']*'/g;
// A message's words: what lies between spaces, quotes, brackets and the like.
const WORD = /[^\s'"`(),;[\]{}<>]+/g;
const SECRET_RUN = /[A-Za-z0-9+/_=-]{32,}/g;

/**
 * Every message the CLI shows (errors, with --json too, and notices) goes through this, so that
 * a credential pasted into the wrong place (a token as --ttl, a secret as a path) is never
 * echoed, whichever message would have quoted it: store URLs lose their password, and words
 * shaped like a pywry token, or holding a long run of secret-alphabet characters, are replaced.
 */
export function redactMessage(text: string): string {
  return text
    .replace(URL_WITH_SCHEME, (url) => redactUrl(url))
    .replace(QUOTED_OPTION_VALUE, "'$1=...'")
    .replace(WORD, (word) => (credentialWord(word) ? NOT_SHOWN : word));
}

function credentialWord(word: string): boolean {
  if (/:\d+:\d+:/.test(word)) return true;
  // A path is judged by its parts: "/home/me/secret" is a path, ".../0f3a...(64 hex)" holds a secret.
  const parts = /^[~/.]/.test(word) ? word.split("/") : [word];
  return parts.some((part) => [...part.matchAll(SECRET_RUN)].some(([run]) => secretShaped(run)));
}

/** Hex, or base64 mixing upper case, lower case and digits; not a long file or role name. */
function secretShaped(run: string): boolean {
  const bare = run.replace(/=+$/, "");
  return /^[0-9a-fA-F]{32,}$/.test(bare) || (/[a-z]/.test(bare) && /[A-Z]/.test(bare) && /[0-9]/.test(bare));
}
