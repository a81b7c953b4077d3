/**
 * `npm start`: Tether on TETHER_PORT (3003) with embedded SQLite under TETHER_DATA_DIR (./data),
 * and, unless TETHER_SANDBOX=off, the Marketo sandbox beside it with values to paste into the form.
 */
import { ConfigError, loadConfig } from './config.ts';
import { startTether } from './server/start.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}

const tether = await startTether(config);
const lines = [
  '',
  `Tether is running at ${tether.url}`,
  `  Secret key     ${tether.secretKey}   (Authorization: Bearer <secret key>; keep it private)`,
  `  Data           ${config.dataDir}`,
  `  Connect UI     ${config.publicUrl}/connect/  (open the connect_link of a session)`,
  `  Dashboard      ${config.publicUrl}/dashboard/  (sign in with the secret key)`,
];
if (tether.sandbox) {
  const s = tether.sandbox;
  lines.push(
    '',
    `Marketo sandbox (Munchkin ID ${s.munchkinId}) is running beside it. Paste into the Connect form:`,
    `  Client ID      ${s.clientId}`,
    `  Client Secret  ${s.clientSecret}`,
    `  Domain         ${s.endpoint}`,
    `  Identity URL   ${s.identity}`,
    `  Control API    ${s.admin}`,
  );
}
lines.push(
  '',
  'Link an account in a minute:',
  `  curl -s -X POST ${tether.url}/connect/sessions -H "Authorization: Bearer ${tether.secretKey}" \\`,
  `    -H "Content-Type: application/json" -d '{"end_user":{"id":"me"},"allowed_integrations":["marketo"]}'`,
  '  then open the returned connect_link in a browser.',
  '',
);
console.log(lines.join('\n'));

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void tether.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
