/** `secret generate`: 32 random bytes as hex, on stdout or into an owner-only file. */
import { generateSecret, writePrivateFile, type Context } from "../context.js";
import type { Output } from "../output.js";

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
  writePrivateFile(options.out, `${secret}\n`, Boolean(options.force));
  output.result(`wrote a new secret to ${options.out} (mode 0600)`, { path: options.out, bytes: secret.length / 2 });
}
