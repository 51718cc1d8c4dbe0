#!/usr/bin/env node
// `npm run docs`: writes docs/cli.md from the command definitions (via the compiled dist/).
// Run it after changing any command, option or description; a test fails until you do.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { renderCliReference, CLI_REFERENCE_PATH } = await import("../dist/cli/reference.js");
const target = join(root, CLI_REFERENCE_PATH);
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, await renderCliReference());
console.log(`wrote ${CLI_REFERENCE_PATH}`);
