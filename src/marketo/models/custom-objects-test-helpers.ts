/**
 * Shared by the custom-objects tests over HTTP: the test's own Marketo calls (its oracle and its writes),
 * the sandbox's records read by REST as CustomObject records, Tether's cache read through `GET /records`
 * (per variant), a scheduler running the custom-objects sync alone, and Tether API calls.
 */
import type { RunningTether } from '../../server/start.ts';
import { tetherApi } from '../../server/testing.ts';
import { SyncScheduler } from '../../engine/sync/scheduler.ts';
import type { RunOutcome } from '../../engine/sync/runner.ts';
import { rest, type TestSandbox } from '../../sandbox/testing.ts';
import { customObjectRecordFromRest, readDescribe } from './custom-objects-records.ts';
import { customObjectsSync, CUSTOM_OBJECT_MODEL } from './custom-objects.ts';
import { QUICK_SCHEDULER } from '../../engine/sync/testing.ts';

export type Json = Record<string, unknown>;
export type Ended = RunOutcome & { syncId: number; syncName: string; variant: string };

/** A scheduler with the custom-objects sync alone (started by the caller once options are set). */
export function customObjectsScheduler(tether: RunningTether, ended: Ended[]): SyncScheduler {
  const scheduler = new SyncScheduler(tether.deps, {
    ...QUICK_SCHEDULER,
    registry: { marketo: [customObjectsSync] },
    onRunEnd: (o) => ended.push(o),
  });
  tether.deps.syncs = scheduler;
  return scheduler;
}

/**
 * The sandbox's records of a type (those linked to leads 1..maxLeadId), read through the REST query by
 * `leadId` with every describe field, as CustomObject records.
 */
export async function sandboxCustomObjects(
  sb: TestSandbox,
  apiName: string,
  maxLeadId: number,
): Promise<Map<string, Json>> {
  const describe = await rest<{ result: Json[] }>(sb, `/rest/v1/customobjects/${apiName}/describe.json`);
  const schema = readDescribe(apiName, describe.result[0]);
  const fields = schema.fields.map((f) => f.name).join(',');
  const out = new Map<string, Json>();
  for (let first = 1; first <= maxLeadId; first += 300) {
    const ids = Array.from({ length: Math.min(300, maxLeadId - first + 1) }, (_, i) => first + i);
    let token: string | undefined;
    do {
      const q = new URLSearchParams({ filterType: 'leadId', filterValues: ids.join(','), fields });
      if (token) q.set('nextPageToken', token);
      const body = await rest<{ result: Json[]; nextPageToken?: string }>(
        sb,
        `/rest/v1/customobjects/${apiName}.json?${q}`,
      );
      for (const item of body.result) {
        const rec = customObjectRecordFromRest(item, schema);
        if (rec) out.set(rec.id, rec);
      }
      token = body.nextPageToken;
    } while (token);
  }
  return out;
}

/** Every CustomObject record of a variant's cache (all pages), live and deleted apart. */
export async function cachedCustomObjects(
  tether: RunningTether,
  connectionId: string,
  variant?: string,
): Promise<{ live: Map<string, Json>; deleted: Map<string, Json> }> {
  const api = tetherApi(tether);
  const live = new Map<string, Json>();
  const deleted = new Map<string, Json>();
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ model: CUSTOM_OBJECT_MODEL, limit: '1000' });
    if (variant) q.set('variant', variant);
    if (cursor) q.set('cursor', cursor);
    const res = await api(`/records?${q}`, {
      headers: { 'connection-id': connectionId, 'provider-config-key': 'marketo' },
    });
    if (res.status !== 200) throw new Error(`GET /records: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { records: Json[]; next_cursor: string | null };
    for (const r of body.records) {
      const { _nango_metadata: meta, ...rec } = r as Json & { _nango_metadata: { last_action: string } };
      (meta.last_action === 'DELETED' ? deleted : live).set(String(rec.id), rec);
    }
    cursor = body.next_cursor;
  } while (cursor);
  return { live, deleted };
}

/** A type's export jobs at the sandbox (Marketo's job list of the default API user). */
export async function customObjectJobs(sb: TestSandbox, apiName: string): Promise<Json[]> {
  const jobs: Json[] = [];
  let token: string | undefined;
  do {
    const body = await rest<{ result?: Json[]; nextPageToken?: string }>(
      sb,
      `/bulk/v1/customobjects/${apiName}/export.json?batchSize=300${token ? `&nextPageToken=${token}` : ''}`,
    );
    jobs.push(...(body.result ?? []));
    token = body.nextPageToken;
  } while (token);
  return jobs;
}

/** Records sorted by id, for comparisons that print well. */
export function sortedById(m: Map<string, Json>): Json[] {
  return [...m.values()].sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
}
