// Bundles the compiled CLI (dist/cli/main.js and everything it imports from dist/) into one
// CommonJS file, dist/pywry-auth.cjs, which bin/pywry-auth loads. Why: Node 20 spends more time
// resolving, reading and linking some twenty ES modules than running the CLI (cold start,
// docs/performance.md "2. Cold start"), and a CommonJS file compiles and loads fastest.
//
// Left outside the bundle, loaded only by the commands that need them: better-sqlite3-multiple-ciphers (native),
// @napi-rs/keyring, ioredis, @inquirer/prompts, chalk and the table renderer (text-table, string-width). The library (dist/index.js and the rest of
// dist/) stays the plain tsc output.
import { build } from "esbuild";

// commander loads node:child_process at start-up, only for executable subcommands, which
// pywry-auth has none of: give it a stand-in that loads the real module on first use.
const lazyChildProcess = {
  name: "lazy-child-process",
  setup(build) {
    build.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: "child_process", namespace: "lazy-builtin" } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, () => ({
      contents: 'module.exports = new Proxy({}, { get: (_target, name) => require("node:child_process")[name] });',
      loader: "js",
    }));
  },
};

await build({
  entryPoints: ["dist/cli/main.js"],
  outfile: "dist/pywry-auth.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["better-sqlite3-multiple-ciphers", "@napi-rs/keyring", "ioredis", "@inquirer/prompts", "chalk", "text-table", "string-width"],
  plugins: [lazyChildProcess],
  // Smaller text reads and compiles faster. (An internal error is reported in one line, without
  // a stack, so short names lose nothing a user sees.)
  minify: true,
  legalComments: "none",
  // packageVersion() finds package.json from import.meta.url, which CommonJS spells __filename.
  define: { "import.meta.url": "__pywryAuthModuleUrl" },
  banner: { js: 'const __pywryAuthModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: "warning",
});
