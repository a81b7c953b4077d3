/**
 * Providers as data. A provider definition says how to authenticate against an API, what the Connect
 * UI asks the user for (in several languages), where proxied calls go and how to check a new
 * connection. Adding a provider of an existing auth mode is adding a definition, not code.
 *
 * Templates use Nango's placeholders: `${connectionConfig.<field>}` (and `${credentials.<field>}` in
 * token params). A connection_config value that carries its own scheme (`http://127.0.0.1:4010/X`)
 * replaces the template's scheme (see `interpolateUrl`).
 */
import { z } from 'zod';

/** User-facing text by language tag (`en` required, e.g. `fr`, `de`, `pt-BR`). */
export const localizedTextSchema = z
  .object({ en: z.string().min(1) })
  .catchall(z.string().min(1))
  .describe('text by language tag');
export type LocalizedText = z.infer<typeof localizedTextSchema>;

export const authModeSchema = z.enum(['OAUTH2_CC']);
export type AuthMode = z.infer<typeof authModeSchema>;

/** A field of `connection_config` (Connect UI `params[<name>]`). */
export const connectionConfigFieldSchema = z
  .object({
    type: z.literal('string'),
    title: localizedTextSchema,
    description: localizedTextSchema,
    format: z.enum(['hostname', 'uri', 'uuid', 'email']).optional(),
    pattern: z.string().optional(),
    example: z.string().optional(),
    /** Display-only adornments around the input. */
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    order: z.number().int(),
    /** Anchor in the provider's connect guide, e.g. `#step-3-find-your-domain-and-identity-url`. */
    doc_section: z.string().optional(),
    hidden: z.boolean().optional(),
    /** Filled by the server, never asked. */
    automated: z.boolean().optional(),
    optional: z.boolean().optional(),
    default_value: z.string().optional(),
    /** Name of a field normalizer (see providers/normalize.ts) applied to what the user typed. */
    normalize: z.string().optional(),
  })
  .strict();
export type ConnectionConfigField = z.infer<typeof connectionConfigFieldSchema>;

/** A credential the Connect UI asks for (`client_id`, `client_secret`). */
export const credentialFieldSchema = z
  .object({
    type: z.literal('string'),
    title: localizedTextSchema,
    description: localizedTextSchema,
    example: z.string().optional(),
    pattern: z.string().optional(),
    doc_section: z.string().optional(),
    /** Shown masked, never returned by read APIs without the credentials scope. */
    secret: z.boolean().optional(),
  })
  .strict();
export type CredentialField = z.infer<typeof credentialFieldSchema>;

/** How the client-credentials token request is made. */
export const tokenRequestSchema = z
  .object({
    /** URL template, e.g. `https://${connectionConfig.identityURL}/identity/oauth/token`. */
    url: z.string().min(1),
    method: z.enum(['GET', 'POST']),
    /** Where client_id / client_secret go: query string, form body, or `Authorization: Basic`. */
    credentials_in: z.enum(['query', 'form', 'basic']),
    /** Where `params` go (default: with the credentials; `query` when credentials are in Basic auth on GET). */
    params_in: z.enum(['query', 'form']).optional(),
    /** Extra parameters (templates allowed), e.g. `{grant_type: 'client_credentials'}`. */
    params: z.record(z.string(), z.string()),
    /** Response field names (defaults: access_token, expires_in). */
    token_field: z.string().optional(),
    expires_in_field: z.string().optional(),
  })
  .strict();
export type TokenRequest = z.infer<typeof tokenRequestSchema>;

/** One cheap read that proves a new connection works (and that the permission the product needs is there). */
export const connectionTestSchema = z
  .object({
    method: z.enum(['GET']),
    /** Path below the proxy base URL, query allowed. */
    path: z.string().startsWith('/'),
    /** What the read needs, in the provider's words (for messages). */
    permission: localizedTextSchema.optional(),
    /** Name of the response classifier (e.g. `marketo_envelope`); omitted: any 2xx is a success. */
    classifier: z.string().optional(),
  })
  .strict();
export type ConnectionTest = z.infer<typeof connectionTestSchema>;

export const providerDefinitionSchema = z
  .object({
    /** Key, e.g. `marketo`. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    display_name: z.string().min(1),
    auth_mode: authModeSchema,
    categories: z.array(z.string()),
    /** Provider page and connect guide (the guide's anchors are the `doc_section`s). */
    docs: z.string().url(),
    docs_connect: z.string().url().optional(),
    /** Logo file name below the server's logo path (default `<name>.svg`). */
    logo: z.string().optional(),
    token_request: tokenRequestSchema,
    /** Seconds before expiry at which a token is refreshed (default: the engine's). */
    token_expiration_buffer: z.number().int().min(0).optional(),
    proxy: z
      .object({
        base_url: z.string().min(1),
        headers: z.record(z.string(), z.string()).optional(),
      })
      .strict(),
    connection_config: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), connectionConfigFieldSchema),
    /** Name of a whole-config normalizer run after the field normalizers (cross-field rules). */
    connection_config_normalizer: z.string().optional(),
    credentials: z
      .object({ client_id: credentialFieldSchema, client_secret: credentialFieldSchema })
      .strict(),
    connection_test: connectionTestSchema.optional(),
  })
  .strict();
export type ProviderDefinition = z.infer<typeof providerDefinitionSchema>;

/** A provider as `GET /providers/{provider}` serves it (Nango's providers.yaml entry + name, logo_url). */
export interface NangoProvider {
  name: string;
  display_name: string;
  auth_mode: AuthMode;
  categories: string[];
  docs: string;
  docs_connect?: string;
  token_url: string;
  token_params: Record<string, string>;
  /** `query`: all token params in the query string (Nango's option); absent: form body. */
  body_format?: 'query' | 'form';
  token_request_auth_method?: 'basic';
  token_expiration_buffer?: number;
  proxy: { base_url: string; headers?: Record<string, string> };
  connection_config: Record<string, NangoConnectionConfigField>;
  credentials: Record<string, NangoCredentialField>;
  logo_url: string;
}

export interface NangoConnectionConfigField {
  type: 'string';
  title: string;
  description: string;
  format?: string;
  pattern?: string;
  example?: string;
  prefix?: string;
  suffix?: string;
  order: number;
  doc_section?: string;
  hidden?: boolean;
  automated?: boolean;
  optional?: boolean;
  default_value?: string;
}

export interface NangoCredentialField {
  type: 'string';
  title: string;
  description: string;
  example?: string;
  pattern?: string;
  doc_section?: string;
  secret?: boolean;
}
