/** Store URLs may carry a password (redis://user:pass@host): never print it. */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not a URL: hide anything between "//" and "@" that looks like credentials.
    return text.replace(/\/\/[^/@]*@/, "//***@");
  }
  if (url.password) url.password = "***";
  return url.toString();
}
