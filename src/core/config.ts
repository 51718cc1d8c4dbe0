/** pywry's AuthConfig with its defaults, in camelCase. */
export interface AuthConfig {
  enabled: boolean;
  sessionCookie: string;
  authHeader: string;
  tokenSecret: string;
  sessionTtl: number;
  requireAuthForWidgets: boolean;
}

export const AUTH_CONFIG_DEFAULTS: Readonly<AuthConfig> = Object.freeze({
  enabled: false,
  sessionCookie: "pywry_session",
  authHeader: "Authorization",
  tokenSecret: "",
  sessionTtl: 86400,
  requireAuthForWidgets: false,
});

/** Widget tokens live five minutes unless asked otherwise (pywry's generate_widget_token). */
export const DEFAULT_WIDGET_TTL = 300;

/**
 * Builds an AuthConfig from pywry's defaults. Unlike pywry, an empty `tokenSecret` is kept empty
 * rather than replaced by a random per-process secret: a secret nobody else knows makes every
 * token unverifiable by the other processes of a deployment, which is a silent failure.
 */
export function createAuthConfig(partial: Partial<AuthConfig> = {}): AuthConfig {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, value]) => value !== undefined));
  return { ...AUTH_CONFIG_DEFAULTS, ...defined };
}
