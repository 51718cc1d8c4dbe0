/**
 * Python's `str.strip()` (no argument), for reading secrets exactly as the pywry snippet that
 * pywry-auth prints reads them (`Path(...).read_text().strip()`): both sides must sign with the
 * same bytes. JavaScript's `trim()` differs: it strips U+FEFF (a byte-order mark, which Python
 * keeps) and keeps U+001C..U+001F and U+0085 (which Python strips).
 */

/** The characters for which Python's `str.isspace()` is true. */
const PYTHON_WHITESPACE = "\\t\\n\\v\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const SURROUNDING = new RegExp(`^[${PYTHON_WHITESPACE}]+|[${PYTHON_WHITESPACE}]+$`, "g");

export function pythonStrip(text: string): string {
  return text.replace(SURROUNDING, "");
}
