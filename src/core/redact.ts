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

