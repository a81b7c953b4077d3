/**
 * `npm start`. Until the Tether server lands (issue 3), this starts the Marketo sandbox alone on
 * TETHER_SANDBOX_PORT (default 4010) and prints the values a client needs.
 */
import { startSandbox } from './sandbox/index.ts';

const port = Number(process.env.TETHER_SANDBOX_PORT ?? 4010);
const running = await startSandbox({ port, munchkinId: '123-ABC-456', seed: { leads: 10_000, seed: 1 } });
console.log('Tether (preview): the Marketo sandbox is running. The Tether server itself is not built yet.');
console.log(`  Endpoint       ${running.endpoint}`);
console.log(`  Identity       ${running.identity}`);
console.log(`  Client ID      ${running.clientId}`);
console.log(`  Client Secret  ${running.clientSecret}`);
console.log(`  Control API    ${running.admin}`);
const stop = () => void running.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
