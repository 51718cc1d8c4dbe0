/**
 * Every relative link in the project's Markdown (README.md, CONTRIBUTING.md, SECURITY.md,
 * CHANGELOG.md, docs/, bench/README.md, test/security/README.md) leads somewhere: the file exists,
 * and a `#fragment` names a heading of the target as GitHub renders its anchor. Moving a section
 * from one document to another then fails here until every link to it follows.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, test } from "node:test";
import { projectRoot } from "../helpers/paths.js";

/** The text without fenced code blocks and inline code, where `[x](y)` and `# x` are not Markdown. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "``");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors a Markdown text defines, with GitHub's -1, -2 suffixes for repeated headings. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  for (const [, heading] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = anchorOf(heading ?? "");
    const count = seen.get(base) ?? 0;
    anchors.add(count === 0 ? base : `${base}-${count}`);
    seen.set(base, count + 1);
  }
  return anchors;
}

/** Relative link targets of a Markdown text (external links and bare fragments' files excluded). */
export function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const [, target] of prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (target === undefined || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    links.push(target);
  }
  return links;
}

/** What is wrong with each relative link of the Markdown file at `path` (relative to the root). */
export function brokenLinks(path: string, read: (path: string) => string | undefined): string[] {
  const text = read(path);
  assert.ok(text !== undefined, `${path} exists`);
  const problems: string[] = [];
  for (const link of relativeLinks(text)) {
    const [file = "", fragment] = link.split("#", 2);
    const target = file === "" ? path : join(dirname(path), decodeURIComponent(file));
    const targetText = read(target);
    if (targetText === undefined) {
      problems.push(`${path}: ${link}: ${target} does not exist`);
      continue;
    }
    if (fragment !== undefined && fragment !== "" && /\.md$/i.test(target) && !anchorsOf(targetText).has(fragment)) {
      problems.push(`${path}: ${link}: ${target} has no heading #${fragment}`);
    }
  }
  return problems;
}

/** Reads a project file as text; "" for a directory (a link to a folder resolves); undefined if missing. */
function readProjectFile(path: string): string | undefined {
  const absolute = join(projectRoot, path);
  if (relative(projectRoot, absolute).startsWith("..") || !existsSync(absolute)) return undefined;
  return statSync(absolute).isDirectory() ? "" : readFileSync(absolute, "utf8");
}

function documents(): string[] {
  const docs = readdirSync(join(projectRoot, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`);
  return ["README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md", "bench/README.md", "test/security/README.md", ...docs].filter(
    (path) => readProjectFile(path) !== undefined,
  );
}

describe("relative links in the documentation", () => {
  test("every relative link and fragment in README.md, CONTRIBUTING.md, SECURITY.md, docs/ and the READMEs resolves", () => {
    const checked = documents();
    assert.ok(checked.includes("README.md") && checked.some((path) => path.startsWith("docs/")), checked.join(", "));
    const problems = checked.flatMap((path) => brokenLinks(path, readProjectFile));
    assert.deepEqual(problems, [], `broken links:\n${problems.join("\n")}`);
  });

  test("a missing file or a missing heading is reported, and headings in code blocks are not headings", () => {
    const files: Record<string, string> = {
      "README.md": "# Tool\n\nSee [config](docs/config.md#the-order), [gone](docs/gone.md), [top](#tool), [nowhere](#nowhere).\n",
      "docs/config.md": "# Configuration\n\n## The order\n\n```sh\n# not a heading\n```\n\n[back](../README.md#tool) [code](#not-a-heading)\n",
    };
    const read = (path: string): string | undefined => files[path];
    assert.deepEqual(brokenLinks("README.md", read), [
      "README.md: docs/gone.md: docs/gone.md does not exist",
      "README.md: #nowhere: README.md has no heading #nowhere",
    ]);
    assert.deepEqual(brokenLinks("docs/config.md", read), ["docs/config.md: #not-a-heading: docs/config.md has no heading #not-a-heading"]);
  });

  test("anchors are made as GitHub makes them", () => {
    assert.equal(anchorOf("Durability, the `synchronous` choice"), "durability-the-synchronous-choice");
    assert.equal(anchorOf("1. Verify throughput in process"), "1-verify-throughput-in-process");
    assert.equal(anchorOf("pywry's settings"), "pywrys-settings");
    assert.equal(anchorOf("Permission checks (like `kubectl auth can-i`)"), "permission-checks-like-kubectl-auth-can-i");
    assert.deepEqual([...anchorsOf("## A\n## A\n")], ["a", "a-1"]);
  });
});
