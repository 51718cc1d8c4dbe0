/** `secret generate`: 32 random bytes as hex, on stdout or into an owner-only file. */
import type { Context } from "../context.js";
import { generateSecret, writePrivateFile } from "../secrets.js";
import { modeNote } from "../../files.js";
import type { Output } from "../output.js";
import { defineCommand, defineGroup } from "../command.js";

const secretGenerateCommand = defineCommand({
  declare: (secret) =>
    secret
      .command("generate")
      .description("generate a new secret (32 random bytes, hex)")
      .option("--out <file>", "write it to this file (mode 0600) instead of stdout")
      .option("--force", "replace an existing file"),
  examples: ["pywry-auth secret generate --out ~/.config/pywry-auth/secret.next"],
  fields: ["secret", "path", "bytes"],
  action: secretGenerate,
});

export default defineGroup({
  declare: (program) => program.command("secret").description("signing secrets"),
  examples: ["pywry-auth secret generate --out ~/.config/pywry-auth/secret.next"],
  commands: [secretGenerateCommand],
});

function modeText(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

interface SecretGenerateOptions {
  out?: string;
  force?: boolean;
}

export async function secretGenerate(_context: Context, output: Output, options: SecretGenerateOptions): Promise<void> {
  const secret = generateSecret();
  if (options.out === undefined) {
    output.result(secret, { secret });
    return;
  }
  const written = writePrivateFile(options.out, `${secret}\n`, Boolean(options.force));
  output.result(`wrote a new secret to ${options.out} (${modeNote(written)})`, { path: options.out, bytes: secret.length / 2, mode: modeText(written.mode) });
}
