import { z } from 'zod';

/** Shared pieces of the connect-session bodies (Nango 1.1, strict like Nango's zod schemas). */
export const endUserSchema = z
  .object({
    id: z.string().min(1).max(255),
    email: z.email().max(255).optional(),
    display_name: z.string().max(255).optional(),
    tags: z.record(z.string().max(255), z.string().max(255)).optional(),
  })
  .strict();

export const organizationSchema = z
  .object({ id: z.string().min(1).max(255), display_name: z.string().max(255).optional() })
  .strict();

export const integrationsConfigDefaultsSchema = z.record(
  z.string().min(1).max(255),
  z
    .object({
      user_scopes: z.string().max(1000).optional(),
      authorization_params: z.record(z.string(), z.string()).optional(),
      connection_config: z
        .object({ oauth_scopes_override: z.string().optional() })
        .catchall(z.unknown())
        .optional(),
    })
    .strict(),
);

export const overridesSchema = z.record(z.string(), z.object({ docs_connect: z.url().optional() }).strict());

export const tagsSchema = z.record(z.string().min(1).max(64), z.string().max(255));

export const webhookUrlOverrideSchema = z.union([z.url().max(2048), z.literal('')]);
