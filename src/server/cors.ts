/** CORS of the public API (Nango's list, plus Tether's own headers), for every JSON reply. */
export const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET,POST,PUT,PATCH,DELETE,OPTIONS',
  'Access-Control-Allow-Headers':
    'Authorization, Content-Type, Accept, Accept-Language, Origin, X-Requested-With, Nango-Activity-Log-Id, Nango-Is-Dry-Run, Nango-Is-Sync, Nango-Is-Script, Provider-Config-Key, Connection-Id, Retries, Retry-On, Base-Url-Override, Decompress',
  'Access-Control-Expose-Headers':
    'Authorization, Etag, Content-Type, Content-Length, X-Nango-Signature, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After',
  'Access-Control-Max-Age': '600',
};
