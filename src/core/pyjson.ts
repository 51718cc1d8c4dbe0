/**
 * JSON the way Python's `json.dumps` writes it (", " and ": " separators, non-ASCII escaped), so
 * rows written here are byte-identical to rows pywry writes.
 */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const members = Object.entries(value).filter(([, member]) => member !== undefined);
    return `{${members.map(([key, member]) => `${pythonString(key)}: ${pythonJson(member)}`).join(", ")}}`;
  }
  if (typeof value === "string") return pythonString(value);
  return JSON.stringify(value ?? null);
}

function pythonString(text: string): string {
  return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
