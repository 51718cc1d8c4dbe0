/** `widget-token`: a short-lived token for one widget, recorded in the registry unless asked not to. */
import { asUsage } from "../errors.js";
import { parseTtl } from "../../core/duration.js";
import { assertMintableSubject, mintWidgetToken } from "../../core/token.js";
import { defineCommand } from "../command.js";
import type { Context } from "../context.js";
import { accessorOf, mintAndRecord, registryRecord } from "../mint.js";
import type { Output } from "../output.js";
import { secretsForMinting } from "../secrets.js";
import { widgetTtlSetting } from "../settings.js";
import { withStore } from "../store-access.js";

export default defineCommand({
  declare: (program, defaults) =>
    program
      .command("widget-token")
      .description("mint a short-lived widget token")
      .argument("<widget-id>", "the widget the token is for")
      .option("--ttl <duration>", `lifetime: seconds or 5m, 1h (default ${defaults.widgetTtl})`)
      .option("--label <text>", "a note kept in the registry")
      .option("--no-record", "do not record the token in the store's registry"),
  examples: ["pywry-auth widget-token chart-1 --ttl 5m"],
  fields: ["token", "widget_id", "issued_at", "expires_at", "accessor"],
  action: widgetToken,
});

interface WidgetTokenOptions {
  ttl?: string;
  label?: string;
  record: boolean;
}

export async function widgetToken(context: Context, output: Output, widgetId: string, options: WidgetTokenOptions): Promise<void> {
  const ttl = options.ttl === undefined ? widgetTtlSetting(context).value : asUsage(parseTtl, options.ttl, "--ttl");
  assertMintableSubject(widgetId, "widget id");
  const secret = secretsForMinting(context).all[0] ?? "";
  const mint = (now: number) => mintWidgetToken({ widgetId, secret, ttl, now });
  const minted = !options.record
    ? mint(context.clock.now())
    : await withStore(context, "mint", async (store) => {
        const { minted: fresh } = await mintAndRecord(store, context.clock, mint, (token, now) =>
          store.recordIssuedToken(registryRecord(token, "widget", now, options.label, null)),
        );
        return fresh;
      });
  output.result(minted.token, {
    token: minted.token,
    widget_id: minted.subject,
    issued_at: minted.issuedAt,
    expires_at: minted.expiresAt,
    accessor: accessorOf(minted),
  });
}

