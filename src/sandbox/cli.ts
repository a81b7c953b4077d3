import { parseArgs } from 'node:util';
import { startSandbox } from './index.ts';
import { prepareFileThread } from './bulk/file-thread.ts';
import { unlimited, defaultLimits } from './core/config.ts';

/**
 * `npm run sandbox -- [--port 4010] [--host 127.0.0.1] [--json] [--leads N] [--seed S]
 *  [--munchkin 123-ABC-456] [--client-id ID] [--client-secret SECRET] [--no-limits]
 *  [--token-ttl SECONDS] [--bulk-processing-ms MS]`
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4010' },
    host: { type: 'string', default: '127.0.0.1' },
    json: { type: 'boolean', default: false },
    leads: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    munchkin: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'no-limits': { type: 'boolean', default: false },
    'token-ttl': { type: 'string' },
    'bulk-processing-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (values.help) {
  console.log(
    'Usage: npm run sandbox -- [--port 4010] [--json] [--leads 1000] [--seed 1] [--munchkin ID]\n' +
      '       [--client-id ID] [--client-secret S] [--no-limits] [--token-ttl S] [--bulk-processing-ms MS]',
  );
  process.exit(0);
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) {
    console.error(`--${name} must be a non-negative integer`);
    process.exit(2);
  }
  return Number(v);
}

const running = await startSandbox({
  port: int('port', values.port),
  host: values.host,
  munchkinId: values.munchkin ?? '123-ABC-456',
  clientId: values['client-id'],
  clientSecret: values['client-secret'],
  limits: values['no-limits'] ? unlimited() : defaultLimits(),
  settings: {
    ...(values['token-ttl'] !== undefined ? { tokenTtlSeconds: int('token-ttl', values['token-ttl']) } : {}),
    ...(values['bulk-processing-ms'] !== undefined
      ? { bulkProcessingMs: int('bulk-processing-ms', values['bulk-processing-ms']) }
      : {}),
  },
  seed: { leads: int('leads', values.leads) ?? 1000, seed: int('seed', values.seed) ?? 1 },
});

await prepareFileThread();

const info = {
  munchkinId: running.munchkinId,
  endpoint: running.endpoint,
  identity: running.identity,
  clientId: running.clientId,
  clientSecret: running.clientSecret,
  admin: running.admin,
};
if (values.json) {
  process.stdout.write(JSON.stringify(info) + '\n');
} else {
  console.log(`Marketo sandbox ready (Munchkin ID ${info.munchkinId})`);
  console.log(`  Endpoint       ${info.endpoint}`);
  console.log(`  Identity       ${info.identity}`);
  console.log(`  Client ID      ${info.clientId}`);
  console.log(`  Client Secret  ${info.clientSecret}`);
  console.log(`  Control API    ${info.admin}`);
}

const stop = () => {
  void running.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
