/**
 * What the Connect UI reads from the API, in Nango's shapes (see spec §2.3). Lenient on purpose: the UI
 * must cope with fields a server leaves out.
 */

export interface ConnectUISettings {
  theme?: { light?: { primary?: string }; dark?: { primary?: string } };
  defaultTheme?: 'light' | 'dark' | 'system';
  showWatermark?: boolean;
}

export interface IntegrationDefaults {
  connection_config?: Record<string, unknown>;
  authorization_params?: Record<string, unknown>;
  user_scopes?: string;
}

export interface ConnectSession {
  endUser?: {
    id?: string;
    display_name?: string | null;
    email?: string | null;
    organization?: { id?: string; display_name?: string | null } | null;
  } | null;
  allowed_integrations?: string[];
  integrations_config_defaults?: Record<string, IntegrationDefaults>;
  isReconnecting?: boolean;
  connectUISettings?: ConnectUISettings;
  overrides?: Record<string, { docs_connect?: string }>;
}

export interface Integration {
  unique_key: string;
  provider: string;
  display_name?: string;
  logo?: string;
}

/** A `connection_config` entry of a provider (providers.yaml shape). */
export interface ProviderConfigField {
  type?: string;
  title?: string;
  description?: string;
  format?: string;
  pattern?: string;
  example?: string;
  prefix?: string;
  suffix?: string;
  order?: number;
  doc_section?: string;
  hidden?: boolean;
  automated?: boolean;
  optional?: boolean;
  default_value?: string;
}

/** A `credentials` entry of a provider. */
export interface ProviderCredentialField {
  type?: string;
  title?: string;
  description?: string;
  example?: string;
  pattern?: string;
  doc_section?: string;
  secret?: boolean;
  optional?: boolean;
  prefix?: string;
  suffix?: string;
}

export interface Provider {
  name: string;
  display_name?: string;
  auth_mode?: string;
  docs?: string;
  docs_connect?: string;
  logo_url?: string;
  connection_config?: Record<string, ProviderConfigField>;
  credentials?: Record<string, ProviderCredentialField>;
}

/** The error body of Tether (Nango's envelope plus `step`, `hint`, `field`). */
export interface ApiErrorBody {
  error?: {
    code?: string;
    message?: string;
    step?: string;
    hint?: string;
    field?: string;
    payload?: unknown;
  };
}
