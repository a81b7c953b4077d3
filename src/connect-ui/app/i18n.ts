/**
 * UI chrome strings of the Connect UI (English and French) and the language choice. Pure: no DOM.
 * Provider field texts are not here: the server localizes them (Accept-Language).
 */

const en = {
  'app.title': 'Connect an account',
  loading: 'Loading…',
  'loading.provider': 'Loading the form…',
  close: 'Close',
  back: 'Back',
  retry: 'Try again',
  'link.newTab': '(opens in a new tab)',
  watermark: 'Secured by Tether',

  'choose.title': 'Choose an integration',
  'choose.intro': 'Pick the account you want to connect.',

  'form.title': 'Connect {provider}',
  'form.titleReconnect': 'Reconnect {provider}',
  'form.intro': 'Enter the details below to connect your {provider} account.',
  'form.guide': 'Step-by-step guide',
  'form.credentials': 'API credentials',
  'form.connection': 'Account details',
  'form.submit': 'Connect',
  'form.busy': 'Connecting… fetching a token, then testing access',
  'form.required': 'All fields are required unless marked optional.',

  'field.optional': '(optional)',
  'field.where': 'Where to find it',
  'field.show': 'Show {field}',
  'field.preview': 'Address used: {url}',
  'field.autofilled': 'Filled in from {source}. Change it if yours is different.',

  'default.client_id.title': 'Client ID',
  'default.client_id.description': 'The client ID of your API credentials.',
  'default.client_secret.title': 'Client Secret',
  'default.client_secret.description': 'The client secret of your API credentials.',

  'validation.title': 'Check the highlighted fields',
  'validation.required': 'Enter the {field}.',
  'validation.spaces': 'The {field} must not contain spaces.',
  'validation.scheme': 'The {field} must start with https:// (or leave the scheme out).',
  'validation.url': 'The {field} does not look like a web address. Example: {example}',
  'validation.urlNoExample': 'The {field} does not look like a web address.',
  'validation.pattern': 'Incorrect {field}.',
  'validation.email': 'The {field} must be an email address.',
  'validation.uuid': 'The {field} must be a UUID.',

  'step.input': 'Some details are not right',
  'step.identity': 'Step 1 of 2 failed: getting an access token',
  'step.api': 'Step 2 of 2 failed: testing access to the {provider} API',
  'step.session': 'This connection link cannot be used',
  'step.unknown': 'The connection failed',
  'error.whatToDo': 'What to do:',
  'error.code': 'Error code: {code}',
  'error.details': 'Details: {details}',
  'error.goToField': 'Go to {field}',
  'error.announce': 'Connection failed.',

  'success.title': 'Connected',
  'success.body': 'Your {provider} account is connected.',
  'success.finish': 'Finish',
  'success.closeTab': 'You can now close this window.',

  'session.missingTitle': 'Connection link incomplete',
  'session.errorTitle': 'Cannot open the connection form',
  'session.noIntegrationTitle': 'Nothing to connect',
  'session.unsupportedTitle': 'Not supported',

  // Fallback texts for error codes (the server's own message is preferred in English).
  'code.missing_connect_session_token.message': 'No connect session token was received.',
  'code.missing_connect_session_token.hint':
    'Open this page from the app that sent you here, or ask it for a new connection link.',
  'code.unknown_connect_session_token.message': 'This connection link has expired or is not valid.',
  'code.unknown_connect_session_token.hint': 'Go back to the app that sent you here and start again.',
  'code.invalid_connect_session_token_format.message': 'This connection link is not valid.',
  'code.invalid_connect_session_token_format.hint': 'Go back to the app that sent you here and start again.',
  'code.missing_auth_header.message': 'This connection link is not valid.',
  'code.missing_auth_header.hint': 'Go back to the app that sent you here and start again.',
  'code.invalid_api_url.message': 'The server address given to this page is not a valid web address.',
  'code.invalid_api_url.hint': 'Check the apiURL option of the app that opened this page.',
  'code.network_error.message': 'The server could not be reached.',
  'code.network_error.hint': 'Check your internet connection, then try again.',
  'code.client_timeout.message': 'The server did not answer in time.',
  'code.client_timeout.hint': 'Try again in a few minutes.',
  'code.no_integration.message': 'No integration is available for this connection link.',
  'code.no_integration.hint': 'Ask the app that sent you here to allow at least one integration.',
  'code.unsupported_auth_mode.message': 'This form cannot connect integrations of this kind ({detail}).',
  'code.unsupported_auth_mode.hint': 'Contact the app that sent you here.',
  'code.not_found.message': 'This integration does not exist.',
  'code.not_found.hint': 'Ask the app that sent you here for a new connection link.',
  'code.unknown_provider_config.message': 'This integration does not exist.',
  'code.unknown_provider_config.hint': 'Ask the app that sent you here for a new connection link.',
  'code.integration_not_allowed.message': 'This connection link does not allow this integration.',
  'code.integration_not_allowed.hint': 'Ask the app that sent you here for a new connection link.',
  'code.invalid_auth_mode.message': 'This integration cannot be connected with this form.',
  'code.invalid_auth_mode.hint': 'Contact the app that sent you here.',
  'code.resource_capped.message': 'The maximum number of connections has been reached.',
  'code.resource_capped.hint': 'Contact the app that sent you here.',
  'code.too_many_request.message': 'Too many attempts in a short time.',
  'code.too_many_request.hint': 'Wait a minute, then try again.',
  'code.missing_client_id.message': 'The Client ID is missing.',
  'code.missing_client_id.hint': 'Copy it from the place the field help points to.',
  'code.missing_client_secret.message': 'The Client Secret is missing.',
  'code.missing_client_secret.hint': 'Copy it from the place the field help points to.',
  'code.invalid_url.message': 'One of the addresses is not valid.',
  'code.invalid_url.hint': 'Copy the addresses again from your account settings, as shown in the field help.',
  'code.missing_field.message': 'A required field is empty.',
  'code.missing_field.hint': 'Fill in the highlighted field.',
  'code.invalid_format.message': 'A field has an unexpected format.',
  'code.invalid_format.hint': 'Check the highlighted field.',
  'code.invalid_body.message': 'A value in the form is not accepted (too long, or of the wrong kind).',
  'code.invalid_body.hint': 'Check the highlighted field and paste only the value it asks for.',
  'code.invalid_query_params.message':
    'A value in the form is not accepted (too long, or of the wrong kind).',
  'code.invalid_query_params.hint': 'Check the highlighted field and paste only the value it asks for.',
  'code.host_mismatch.message': 'The two addresses point to different instances.',
  'code.host_mismatch.hint': 'Copy both addresses from the same instance.',
  'code.invalid_client_secret.message': 'The Client Secret was refused for this Client ID.',
  'code.invalid_client_secret.hint':
    'Copy the Client Secret again (LaunchPoint > View Details) and try again.',
  'code.unknown_client_id.message': 'This Client ID is not known.',
  'code.unknown_client_id.hint':
    'Copy the Client ID again (LaunchPoint > View Details) and check that the Identity URL belongs to the same instance.',
  'code.invalid_credentials.message': 'The Client ID or the Client Secret was refused.',
  'code.invalid_credentials.hint': 'Copy both again (LaunchPoint > View Details) and try again.',
  'code.identity_unexpected_response.message': 'The Identity URL did not answer with an access token.',
  'code.identity_unexpected_response.hint':
    'Check the Identity URL: copy it from Admin > Integration > Web Services.',
  'code.client_credentials_fetch_error.message': 'No access token could be obtained.',
  'code.client_credentials_fetch_error.hint': 'Check the Client ID, the Client Secret and the addresses.',
  'code.host_not_found.message': 'This address does not exist.',
  'code.host_not_found.hint': 'Check the address: copy it from Admin > Integration > Web Services.',
  'code.host_unreachable.message': 'The address could not be reached.',
  'code.host_unreachable.hint': 'Check the address, then try again in a few minutes.',
  'code.host_not_allowed.message': 'This server does not connect to this address.',
  'code.host_not_allowed.hint':
    'Use the REST API addresses from Admin > Integration > Web Services (they end in .mktorest.com).',
  'code.tls_error.message': 'The secure connection failed.',
  'code.tls_error.hint': 'Check the address: copy it from Admin > Integration > Web Services.',
  'code.timeout.message': 'The service did not answer in time.',
  'code.timeout.hint': 'It may be slow or unavailable right now. Try again in a few minutes.',
  'code.aborted.message': 'The connection test was cancelled.',
  'code.aborted.hint': 'Try again.',
  'code.marketo_permission_missing.message': 'The API user of this LaunchPoint service lacks a permission.',
  'code.marketo_permission_missing.hint':
    'In Marketo, open Admin > Users & Roles > Roles and give the API role the "Read-Only Lead" permission, then try again.',
  'code.marketo_ip_restricted.message':
    "This Marketo instance does not accept API calls from this server's address.",
  'code.marketo_ip_restricted.hint':
    "In Marketo, open Admin > Integration > Web Services > IP Restrictions and add this server's outbound IP address, then try again.",
  'code.marketo_access_denied.message': 'Marketo denied access (error 603).',
  'code.marketo_access_denied.hint':
    'Check the API role permissions (Admin > Users & Roles > Roles) and the IP restrictions (Admin > Integration > Web Services).',
  'code.marketo_token_rejected.message': 'Marketo rejected the access token it had just issued.',
  'code.marketo_token_rejected.hint':
    'Check that the Domain and the Identity URL belong to the same instance, then try again.',
  'code.marketo_rate_limited.message': 'Marketo is receiving too many API calls right now.',
  'code.marketo_rate_limited.hint': 'Try again in a minute.',
  'code.marketo_temporarily_unavailable.message': 'Marketo could not answer right now.',
  'code.marketo_temporarily_unavailable.hint': 'Try again in a minute.',
  'code.marketo_daily_quota_exhausted.message': 'This Marketo instance has used up its daily API quota.',
  'code.marketo_daily_quota_exhausted.hint':
    'The quota resets at midnight US Central time; try again after that.',
  'code.marketo_api_error.message': 'Marketo answered the test read with an error.',
  'code.marketo_api_error.hint': 'Try again; if it persists, contact support with the error code.',
  'code.api_unexpected_response.message': 'The Domain did not answer like the Marketo REST API.',
  'code.api_unexpected_response.hint':
    'Check the Domain: copy the REST API Endpoint from Admin > Integration > Web Services.',
  'code.connection_test_failed.message': 'The credentials were refused.',
  'code.connection_test_failed.hint': 'Check the values you entered and try again.',
  'code.connection_validation_failed.message': 'The connection could not be validated.',
  'code.connection_validation_failed.hint': 'Check the values you entered and try again.',
  'code.unknown_error.message': 'Something went wrong.',
  'code.unknown_error.hint': 'Try again. If it persists, contact the app that sent you here.',
} as const;

export type MessageKey = keyof typeof en;
export type Dictionary = Record<MessageKey, string>;

const fr: Dictionary = {
  'app.title': 'Connecter un compte',
  loading: 'Chargement…',
  'loading.provider': 'Chargement du formulaire…',
  close: 'Fermer',
  back: 'Retour',
  retry: 'Réessayer',
  'link.newTab': '(s’ouvre dans un nouvel onglet)',
  watermark: 'Sécurisé par Tether',

  'choose.title': 'Choisissez une intégration',
  'choose.intro': 'Choisissez le compte à connecter.',

  'form.title': 'Connecter {provider}',
  'form.titleReconnect': 'Reconnecter {provider}',
  'form.intro': 'Saisissez les informations ci-dessous pour connecter votre compte {provider}.',
  'form.guide': 'Guide pas à pas',
  'form.credentials': 'Identifiants de l’API',
  'form.connection': 'Informations du compte',
  'form.submit': 'Connecter',
  'form.busy': 'Connexion… obtention d’un jeton, puis test de l’accès',
  'form.required': 'Tous les champs sont obligatoires, sauf mention « facultatif ».',

  'field.optional': '(facultatif)',
  'field.where': 'Où le trouver',
  'field.show': 'Afficher le champ {field}',
  'field.preview': 'Adresse utilisée : {url}',
  'field.autofilled': 'Rempli à partir du champ {source}. Modifiez-le si le vôtre est différent.',

  'default.client_id.title': 'ID client',
  'default.client_id.description': 'L’ID client de vos identifiants d’API.',
  'default.client_secret.title': 'Secret client',
  'default.client_secret.description': 'Le secret client de vos identifiants d’API.',

  'validation.title': 'Vérifiez les champs signalés',
  'validation.required': 'Renseignez le champ {field}.',
  'validation.spaces': 'Le champ {field} ne doit pas contenir d’espaces.',
  'validation.scheme': 'Le champ {field} doit commencer par https:// (ou sans préfixe).',
  'validation.url': 'Le champ {field} ne ressemble pas à une adresse web. Exemple : {example}',
  'validation.urlNoExample': 'Le champ {field} ne ressemble pas à une adresse web.',
  'validation.pattern': 'Le champ {field} est incorrect.',
  'validation.email': 'Le champ {field} doit être une adresse e-mail.',
  'validation.uuid': 'Le champ {field} doit être un UUID.',

  'step.input': 'Certaines informations ne sont pas correctes',
  'step.identity': 'Étape 1 sur 2 en échec : obtention d’un jeton d’accès',
  'step.api': 'Étape 2 sur 2 en échec : test de l’accès à l’API {provider}',
  'step.session': 'Ce lien de connexion ne peut pas être utilisé',
  'step.unknown': 'La connexion a échoué',
  'error.whatToDo': 'Que faire :',
  'error.code': 'Code d’erreur : {code}',
  'error.details': 'Détails : {details}',
  'error.goToField': 'Aller au champ {field}',
  'error.announce': 'La connexion a échoué.',

  'success.title': 'Connecté',
  'success.body': 'Votre compte {provider} est connecté.',
  'success.finish': 'Terminer',
  'success.closeTab': 'Vous pouvez maintenant fermer cette fenêtre.',

  'session.missingTitle': 'Lien de connexion incomplet',
  'session.errorTitle': 'Impossible d’ouvrir le formulaire de connexion',
  'session.noIntegrationTitle': 'Rien à connecter',
  'session.unsupportedTitle': 'Non pris en charge',

  'code.missing_connect_session_token.message': 'Aucun jeton de session de connexion n’a été reçu.',
  'code.missing_connect_session_token.hint':
    'Ouvrez cette page depuis l’application qui vous y a envoyé, ou demandez-lui un nouveau lien de connexion.',
  'code.unknown_connect_session_token.message': 'Ce lien de connexion a expiré ou n’est pas valide.',
  'code.unknown_connect_session_token.hint': 'Revenez à l’application qui vous a envoyé ici et recommencez.',
  'code.invalid_connect_session_token_format.message': 'Ce lien de connexion n’est pas valide.',
  'code.invalid_connect_session_token_format.hint':
    'Revenez à l’application qui vous a envoyé ici et recommencez.',
  'code.missing_auth_header.message': 'Ce lien de connexion n’est pas valide.',
  'code.missing_auth_header.hint': 'Revenez à l’application qui vous a envoyé ici et recommencez.',
  'code.invalid_api_url.message':
    'L’adresse du serveur transmise à cette page n’est pas une adresse web valide.',
  'code.invalid_api_url.hint': 'Vérifiez l’option apiURL de l’application qui a ouvert cette page.',
  'code.network_error.message': 'Le serveur est injoignable.',
  'code.network_error.hint': 'Vérifiez votre connexion Internet, puis réessayez.',
  'code.client_timeout.message': 'Le serveur n’a pas répondu à temps.',
  'code.client_timeout.hint': 'Réessayez dans quelques minutes.',
  'code.no_integration.message': 'Aucune intégration n’est disponible pour ce lien de connexion.',
  'code.no_integration.hint':
    'Demandez à l’application qui vous a envoyé ici d’autoriser au moins une intégration.',
  'code.unsupported_auth_mode.message':
    'Ce formulaire ne sait pas connecter ce type d’intégration ({detail}).',
  'code.unsupported_auth_mode.hint': 'Contactez l’application qui vous a envoyé ici.',
  'code.not_found.message': 'Cette intégration n’existe pas.',
  'code.not_found.hint': 'Demandez un nouveau lien de connexion à l’application qui vous a envoyé ici.',
  'code.unknown_provider_config.message': 'Cette intégration n’existe pas.',
  'code.unknown_provider_config.hint':
    'Demandez un nouveau lien de connexion à l’application qui vous a envoyé ici.',
  'code.integration_not_allowed.message': 'Ce lien de connexion n’autorise pas cette intégration.',
  'code.integration_not_allowed.hint':
    'Demandez un nouveau lien de connexion à l’application qui vous a envoyé ici.',
  'code.invalid_auth_mode.message': 'Cette intégration ne peut pas être connectée avec ce formulaire.',
  'code.invalid_auth_mode.hint': 'Contactez l’application qui vous a envoyé ici.',
  'code.resource_capped.message': 'Le nombre maximal de connexions est atteint.',
  'code.resource_capped.hint': 'Contactez l’application qui vous a envoyé ici.',
  'code.too_many_request.message': 'Trop de tentatives en peu de temps.',
  'code.too_many_request.hint': 'Patientez une minute, puis réessayez.',
  'code.missing_client_id.message': 'L’ID client est manquant.',
  'code.missing_client_id.hint': 'Copiez-le depuis l’endroit indiqué dans l’aide du champ.',
  'code.missing_client_secret.message': 'Le secret client est manquant.',
  'code.missing_client_secret.hint': 'Copiez-le depuis l’endroit indiqué dans l’aide du champ.',
  'code.invalid_url.message': 'L’une des adresses n’est pas valide.',
  'code.invalid_url.hint':
    'Copiez à nouveau les adresses depuis les paramètres de votre compte, comme l’indique l’aide du champ.',
  'code.missing_field.message': 'Un champ obligatoire est vide.',
  'code.missing_field.hint': 'Remplissez le champ signalé.',
  'code.invalid_format.message': 'Un champ a un format inattendu.',
  'code.invalid_format.hint': 'Vérifiez le champ signalé.',
  'code.invalid_body.message':
    'Une valeur du formulaire n’est pas acceptée (trop longue, ou d’un autre type).',
  'code.invalid_body.hint': 'Vérifiez le champ signalé et collez seulement la valeur demandée.',
  'code.invalid_query_params.message':
    'Une valeur du formulaire n’est pas acceptée (trop longue, ou d’un autre type).',
  'code.invalid_query_params.hint': 'Vérifiez le champ signalé et collez seulement la valeur demandée.',
  'code.host_mismatch.message': 'Les deux adresses désignent des instances différentes.',
  'code.host_mismatch.hint': 'Copiez les deux adresses depuis la même instance.',
  'code.invalid_client_secret.message': 'Le secret client a été refusé pour cet ID client.',
  'code.invalid_client_secret.hint':
    'Copiez à nouveau le secret client (LaunchPoint > Afficher les détails) et réessayez.',
  'code.unknown_client_id.message': 'Cet ID client est inconnu.',
  'code.unknown_client_id.hint':
    'Copiez à nouveau l’ID client (LaunchPoint > Afficher les détails) et vérifiez que l’URL d’identité appartient à la même instance.',
  'code.invalid_credentials.message': 'L’ID client ou le secret client a été refusé.',
  'code.invalid_credentials.hint': 'Copiez-les à nouveau (LaunchPoint > Afficher les détails) et réessayez.',
  'code.identity_unexpected_response.message': 'L’URL d’identité n’a pas renvoyé de jeton d’accès.',
  'code.identity_unexpected_response.hint':
    'Vérifiez l’URL d’identité : copiez-la depuis Admin > Intégration > Services Web.',
  'code.client_credentials_fetch_error.message': 'Impossible d’obtenir un jeton d’accès.',
  'code.client_credentials_fetch_error.hint': 'Vérifiez l’ID client, le secret client et les adresses.',
  'code.host_not_found.message': 'Cette adresse n’existe pas.',
  'code.host_not_found.hint': 'Vérifiez l’adresse : copiez-la depuis Admin > Intégration > Services Web.',
  'code.host_unreachable.message': 'L’adresse est injoignable.',
  'code.host_unreachable.hint': 'Vérifiez l’adresse, puis réessayez dans quelques minutes.',
  'code.host_not_allowed.message': 'Ce serveur ne se connecte pas à cette adresse.',
  'code.host_not_allowed.hint':
    'Utilisez les adresses de l’API REST indiquées dans Admin > Intégration > Services Web (elles se terminent par .mktorest.com).',
  'code.tls_error.message': 'La connexion sécurisée a échoué.',
  'code.tls_error.hint': 'Vérifiez l’adresse : copiez-la depuis Admin > Intégration > Services Web.',
  'code.timeout.message': 'Le service n’a pas répondu à temps.',
  'code.timeout.hint': 'Il est peut-être lent ou indisponible. Réessayez dans quelques minutes.',
  'code.aborted.message': 'Le test de connexion a été annulé.',
  'code.aborted.hint': 'Réessayez.',
  'code.marketo_permission_missing.message':
    'L’utilisateur API de ce service LaunchPoint n’a pas une autorisation.',
  'code.marketo_permission_missing.hint':
    'Dans Marketo, ouvrez Admin > Utilisateurs et rôles > Rôles et donnez au rôle API l’autorisation « Read-Only Lead », puis réessayez.',
  'code.marketo_ip_restricted.message':
    'Cette instance Marketo n’accepte pas les appels d’API depuis l’adresse de ce serveur.',
  'code.marketo_ip_restricted.hint':
    'Dans Marketo, ouvrez Admin > Intégration > Services Web > Restrictions IP et ajoutez l’adresse IP sortante de ce serveur, puis réessayez.',
  'code.marketo_access_denied.message': 'Marketo a refusé l’accès (erreur 603).',
  'code.marketo_access_denied.hint':
    'Vérifiez les autorisations du rôle API (Admin > Utilisateurs et rôles > Rôles) et les restrictions IP (Admin > Intégration > Services Web).',
  'code.marketo_token_rejected.message': 'Marketo a refusé le jeton d’accès qu’il venait d’émettre.',
  'code.marketo_token_rejected.hint':
    'Vérifiez que le domaine et l’URL d’identité appartiennent à la même instance, puis réessayez.',
  'code.marketo_rate_limited.message': 'Marketo reçoit trop d’appels d’API en ce moment.',
  'code.marketo_rate_limited.hint': 'Réessayez dans une minute.',
  'code.marketo_temporarily_unavailable.message': 'Marketo n’a pas pu répondre pour le moment.',
  'code.marketo_temporarily_unavailable.hint': 'Réessayez dans une minute.',
  'code.marketo_daily_quota_exhausted.message': 'Cette instance Marketo a épuisé son quota quotidien d’API.',
  'code.marketo_daily_quota_exhausted.hint':
    'Le quota est réinitialisé à minuit (heure du Centre des États-Unis) ; réessayez ensuite.',
  'code.marketo_api_error.message': 'Marketo a répondu à la lecture de test par une erreur.',
  'code.marketo_api_error.hint':
    'Réessayez ; si l’erreur persiste, contactez le support avec le code d’erreur.',
  'code.api_unexpected_response.message': 'Le domaine n’a pas répondu comme l’API REST de Marketo.',
  'code.api_unexpected_response.hint':
    'Vérifiez le domaine : copiez l’Endpoint de l’API REST depuis Admin > Intégration > Services Web.',
  'code.connection_test_failed.message': 'Les identifiants ont été refusés.',
  'code.connection_test_failed.hint': 'Vérifiez les valeurs saisies et réessayez.',
  'code.connection_validation_failed.message': 'La connexion n’a pas pu être validée.',
  'code.connection_validation_failed.hint': 'Vérifiez les valeurs saisies et réessayez.',
  'code.unknown_error.message': 'Une erreur s’est produite.',
  'code.unknown_error.hint':
    'Réessayez. Si l’erreur persiste, contactez l’application qui vous a envoyé ici.',
};

export const DICTIONARIES: Readonly<Record<string, Dictionary>> = { en, fr };
export type Lang = 'en' | 'fr';
export const SUPPORTED_LANGS: readonly Lang[] = ['en', 'fr'];

function supported(tag: string | null | undefined): Lang | null {
  if (!tag) return null;
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return (SUPPORTED_LANGS as readonly string[]).includes(primary) ? (primary as Lang) : null;
}

/** The UI language: the `lang` query parameter, then the browser's languages, then English. */
export function pickLanguage(
  langParam: string | null | undefined,
  browserLanguages: readonly string[] = [],
): Lang {
  const fromParam = supported(langParam);
  if (fromParam) return fromParam;
  for (const l of browserLanguages) {
    const s = supported(l);
    if (s) return s;
  }
  return 'en';
}

export type Vars = Readonly<Record<string, string | number>>;

/** Replace `{name}` placeholders; unknown placeholders stay as they are. */
export function format(template: string, vars: Vars = {}): string {
  return template.replace(/\{([a-zA-Z0-9_]+)\}/g, (m, name: string) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m,
  );
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(en, key);
}

export type Translate = (key: MessageKey, vars?: Vars) => string;

/** A translator for `lang` (English for missing keys). */
export function translator(lang: string): Translate {
  const dict = DICTIONARIES[lang] ?? en;
  return (key, vars) => format(dict[key] ?? en[key], vars);
}

/** The text of a key built at run time (e.g. `code.<code>.message`), or null when there is none. */
export function lookup(lang: string, key: string, vars?: Vars): string | null {
  if (!isMessageKey(key)) return null;
  return translator(lang)(key, vars);
}
