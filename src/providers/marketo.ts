import type { ProviderDefinition } from './types.ts';

/**
 * Marketo, as data. Names and templates follow Nango's providers.yaml entry (so `@nangohq/*` clients
 * see what they expect); the token request is Marketo's documented form (GET, parameters in the query).
 * Doc sections are the anchors of the end-user guide "Marketo - How do I link my account?".
 *
 * Connection test: `GET /rest/v1/leads/describe2.json` needs the Read-Only Lead (or Read-Write Lead)
 * permission, which the guide tells users to give the API role, and costs one API call.
 */
export const marketoProvider: ProviderDefinition = {
  name: 'marketo',
  display_name: 'Marketo',
  auth_mode: 'OAUTH2_CC',
  categories: ['marketing'],
  docs: 'https://nango.dev/docs/integrations/all/marketo',
  docs_connect: 'https://nango.dev/docs/integrations/all/marketo/connect',
  logo: 'marketo.svg',
  token_request: {
    url: 'https://${connectionConfig.identityURL}/identity/oauth/token',
    method: 'GET',
    credentials_in: 'query',
    params: { grant_type: 'client_credentials' },
  },
  proxy: { base_url: 'https://${connectionConfig.endpointURL}' },
  connection_config: {
    endpointURL: {
      type: 'string',
      title: { en: 'Domain', fr: 'Domaine' },
      description: {
        en: 'The domain of your Marketo account: the REST API Endpoint shown in Admin > Integration > Web Services. Pasting the whole URL is fine.',
        fr: "Le domaine de votre compte Marketo : l'Endpoint de l'API REST affiché dans Admin > Intégration > Services Web. Vous pouvez coller l'URL complète.",
      },
      format: 'hostname',
      example: 'xxx.mktorest.com',
      prefix: 'https://',
      suffix: '/',
      order: 1,
      doc_section: '#step-3-find-your-domain-and-identity-url',
      normalize: 'marketo_base',
    },
    identityURL: {
      type: 'string',
      title: { en: 'Identity URL', fr: "URL d'identité" },
      description: {
        en: 'The identity URL of your Marketo account, shown next to the Endpoint in Admin > Integration > Web Services. Leave it empty to use the Domain.',
        fr: "L'URL d'identité de votre compte Marketo, affichée à côté de l'Endpoint dans Admin > Intégration > Services Web. Laissez vide pour reprendre le domaine.",
      },
      format: 'hostname',
      example: 'xxx.mktorest.com',
      prefix: 'https://',
      suffix: '/identity/oauth/token',
      order: 2,
      doc_section: '#step-3-find-your-domain-and-identity-url',
      optional: true,
      normalize: 'marketo_base',
    },
  },
  connection_config_normalizer: 'marketo_instance',
  credentials: {
    client_id: {
      type: 'string',
      title: { en: 'Client ID', fr: 'ID client' },
      description: {
        en: 'In Marketo: Admin > Integration > LaunchPoint > your custom service > View Details.',
        fr: 'Dans Marketo : Admin > Intégration > LaunchPoint > votre service personnalisé > Afficher les détails.',
      },
      example: '0a1b2c3d-4e5f-6789-abcd-ef0123456789',
      doc_section: '#step-1-finding-marketo-client-id',
    },
    client_secret: {
      type: 'string',
      title: { en: 'Client Secret', fr: 'Secret client' },
      description: {
        en: 'Shown with the Client ID in LaunchPoint > View Details.',
        fr: "Affiché avec l'ID client dans LaunchPoint > Afficher les détails.",
      },
      doc_section: '#step-2-get-your-client-secret',
      secret: true,
    },
  },
  connection_test: {
    method: 'GET',
    path: '/rest/v1/leads/describe2.json',
    permission: { en: 'Read-Only Lead', fr: 'Read-Only Lead (lecture seule des leads)' },
    classifier: 'marketo_envelope',
  },
};
