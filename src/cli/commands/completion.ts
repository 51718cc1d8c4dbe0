/**
 * `completion bash|zsh|fish`: shell completion generated from the commander definitions, so it
 * never drifts from the commands that exist.
 */
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { Context } from "../context.js";
import { buildProgram } from "../main.js";
import type { Output } from "../output.js";
import { defineCommand } from "../command.js";

export default defineCommand({
  declare: (program) =>
    program.command("completion").description("print a shell completion script (bash, zsh or fish)").argument("<shell>", "bash, zsh or fish"),
  examples: ["source <(pywry-auth completion bash)", "pywry-auth completion fish | source"],
  fields: "it prints a shell script",
  action: completion,
});

interface Node {
  /** Space-separated command path, "" for the program itself. */
  path: string;
  subcommands: string[];
  options: string[];
}

export async function completion(_context: Context, output: Output, shell: string): Promise<void> {
  const nodes = walk(await buildProgram(), "");
  const scripts: Record<string, () => string> = { bash: () => bashScript(nodes), zsh: () => zshScript(nodes), fish: () => fishScript(nodes) };
  const render = scripts[shell];
  if (!render) throw new UsageError(`unknown shell ${JSON.stringify(shell)}: use bash, zsh or fish`);
  output.line(render());
}

function walk(command: Command, path: string): Node[] {
  const visible = command.commands.filter((sub) => sub.name() !== "help");
  const options = command.options.filter((option) => !option.hidden).flatMap((option) => [option.long, option.short]).filter((flag): flag is string => Boolean(flag));
  const node: Node = { path, subcommands: visible.map((sub) => sub.name()), options: [...options, "--help"] };
  return [node, ...visible.flatMap((sub) => walk(sub, path ? `${path} ${sub.name()}` : sub.name()))];
}

function bashScript(nodes: Node[]): string {
  const globals = nodes.find((node) => node.path === "")?.options ?? [];
  // bash refuses an empty key in an associative array, so the program itself is "_".
  const key = (path: string) => quote(path ? `_ ${path}` : "_");
  const children = nodes.map((node) => `    [${key(node.path)}]=${quote(node.subcommands.join(" "))}`).join("\n");
  const words = nodes
    .map((node) => `    [${key(node.path)}]=${quote([...node.subcommands, ...node.options, ...(node.path ? globals : [])].join(" "))}`)
    .join("\n");
  return `# pywry-auth completion for bash. Load it with:  source <(pywry-auth completion bash)
_pywry_auth() {
  local -A children=(
${children}
  )
  local -A words=(
${words}
  )
  local path="_" word
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    if [[ " \${children[$path]} " == *" $word "* ]]; then
      path="$path $word"
    fi
  done
  COMPREPLY=( $(compgen -W "\${words[$path]}" -- "\${COMP_WORDS[COMP_CWORD]}") )
}
complete -F _pywry_auth pywry-auth`;
}

function zshScript(nodes: Node[]): string {
  // zsh runs bash completion functions through bashcompinit.
  return `# pywry-auth completion for zsh. Load it with:  source <(pywry-auth completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashScript(nodes).split("\n").slice(1).join("\n")}`;
}

function fishScript(nodes: Node[]): string {
  const lines = ["# pywry-auth completion for fish. Load it with:  pywry-auth completion fish | source", "complete -c pywry-auth -f"];
  for (const node of nodes) {
    const parts = node.path === "" ? [] : node.path.split(" ");
    const condition =
      parts.length === 0
        ? "__fish_use_subcommand"
        : `__fish_seen_subcommand_from ${parts[parts.length - 1]}${parts.length > 1 ? `; and __fish_seen_subcommand_from ${parts[0]}` : ""}`;
    if (node.subcommands.length > 0) {
      lines.push(`complete -c pywry-auth -n ${quote(condition)} -a ${quote(node.subcommands.join(" "))}`);
    }
    for (const option of node.options.filter((flag) => flag.startsWith("--"))) {
      lines.push(`complete -c pywry-auth -n ${quote(condition)} -l ${option.slice(2)}`);
    }
  }
  return lines.join("\n");
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}
