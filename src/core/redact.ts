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
