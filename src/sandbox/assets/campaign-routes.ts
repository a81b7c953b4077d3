import { MarketoError } from '../core/envelope.ts';
import { READ_CAMPAIGN, type Permission, type Route } from '../core/route.ts';
import type { AssetCatalog } from './catalog.ts';
import type { SmartCampaign } from './model.ts';
import { boolParam, idSegment, parseDateTime } from './params.ts';
import { base32DecodeText, base32EncodeText } from '../core/base32.ts';
import { leadDbCampaignView } from './views.ts';

/** The lead-database campaign endpoints (`/rest/v1/campaigns…`, spec 5.8): browse, request, schedule. */

const EXECUTE: Permission[] = ['executeCampaign'];
const MAX_BATCH = 300;
const MAX_TRIGGER_LEADS = 100;
const TOKEN_PREFIX = 'campaigns:';

function pageToken(offset: number): string {
  return base32EncodeText(`${TOKEN_PREFIX}${offset}`);
}

function tokenOffset(token: string): number {
  const text = base32DecodeText(token.trim());
  const n = text?.startsWith(TOKEN_PREFIX) ? text.slice(TOKEN_PREFIX.length) : undefined;
  if (n === undefined || !/^\d{1,9}$/.test(n)) throw new MarketoError('1003', 'Invalid nextPageToken');
  return Number(n);
}

function campaignOrThrow(catalog: AssetCatalog, idText: string | undefined): SmartCampaign {
  const id = idSegment(idText);
  const campaign = id === undefined ? undefined : catalog.smartCampaign(id);
  if (!campaign) throw new MarketoError('1013', 'Object not found');
  return campaign;
}

/** Whether Request Campaign may run it: an active trigger campaign with "Campaign is Requested". */
function triggerable(c: SmartCampaign): boolean {
  return c.type === 'trigger' && c.isRequestable && c.isActive;
}

function twoYearsAfter(ms: number): number {
  const d = new Date(ms);
  d.setUTCFullYear(d.getUTCFullYear() + 2);
  return d.getTime();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `tokens:[{name:"{{my.token}}", value:"…"}]`, checked for shape only. */
function checkTokens(tokens: unknown): void {
  if (tokens === undefined) return;
  if (!Array.isArray(tokens) || !tokens.every((t) => isRecord(t) && typeof t.name === 'string')) {
    throw new MarketoError('1003', "Invalid value for 'tokens'");
  }
}

export const campaignRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/campaigns.json',
    permission: READ_CAMPAIGN,
    body: 'none',
    handler: ({ inst, query }) => {
      const catalog = inst.assets;
      const batchSize = query.int('batchSize') ?? MAX_BATCH;
      if (batchSize < 1 || batchSize > MAX_BATCH) {
        throw new MarketoError('1003', `Invalid value '${batchSize}' for 'batchSize'`);
      }
      const token = query.get('nextPageToken');
      const offset = token === undefined || token === '' ? 0 : tokenOffset(token);
      const ids = query.list('id')?.map((v) => {
        const id = idSegment(v);
        if (id === undefined) throw new MarketoError('1003', `Invalid value '${v}' for 'id'`);
        return id;
      });
      const idSet = ids ? new Set(ids) : undefined;
      const names = query.list('name');
      const nameSet = names ? new Set(names) : undefined;
      const programs = query.list('programName');
      const programSet = programs ? new Set(programs) : undefined;
      const workspaces = query.list('workspaceName');
      const workspaceSet = workspaces ? new Set(workspaces) : undefined;
      const onlyTriggerable = boolParam(query, 'isTriggerable') ?? false;

      const matches = catalog
        .smartCampaigns()
        .filter(
          (c) =>
            (!idSet || idSet.has(c.id)) &&
            (!nameSet || nameSet.has(c.name)) &&
            (!programSet || programSet.has(catalog.program(c.programId)?.name ?? '')) &&
            (!workspaceSet || workspaceSet.has(catalog.program(c.programId)?.workspace ?? '')) &&
            (!onlyTriggerable || triggerable(c)),
        );
      const page = matches.slice(offset, offset + batchSize);
      const body: { result: Record<string, unknown>[]; nextPageToken?: string } = {
        result: page.map((c) => leadDbCampaignView(catalog, c)),
      };
      if (offset + batchSize < matches.length) body.nextPageToken = pageToken(offset + batchSize);
      return body;
    },
  },
  {
    method: 'GET',
    path: '/rest/v1/campaigns/:id.json',
    permission: READ_CAMPAIGN,
    body: 'none',
    handler: ({ inst, params }) => {
      const campaign = campaignOrThrow(inst.assets, params.id);
      return { result: [leadDbCampaignView(inst.assets, campaign)] };
    },
  },
  {
    method: 'POST',
    path: '/rest/v1/campaigns/:id/trigger.json',
    permission: EXECUTE,
    body: 'json',
    handler: ({ inst, params, body }) => {
      const campaign = campaignOrThrow(inst.assets, params.id);
      // Marketo's documented body is `{input: {leads: [{id}], tokens}}`; the older flat form
      // `{input: [{id}], tokens}` is accepted too.
      const raw = isRecord(body) ? body.input : undefined;
      const nested = isRecord(raw);
      const input = nested ? raw.leads : raw;
      const tokens = nested ? raw.tokens : isRecord(body) ? body.tokens : undefined;
      if (!Array.isArray(input) || input.length === 0)
        throw new MarketoError('1003', 'input cannot be blank');
      if (input.length > MAX_TRIGGER_LEADS) {
        throw new MarketoError('1003', `Too many leads in input: ${input.length} (max ${MAX_TRIGGER_LEADS})`);
      }
      for (const lead of input) {
        const id = isRecord(lead) ? lead.id : undefined;
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 1) {
          throw new MarketoError('1003', "Invalid value for 'input': each lead needs a numeric id");
        }
      }
      checkTokens(tokens);
      if (!triggerable(campaign)) throw new MarketoError('1003', 'Invalid data');
      return { result: [{ id: campaign.id }] };
    },
  },
  {
    method: 'POST',
    path: '/rest/v1/campaigns/:id/schedule.json',
    permission: EXECUTE,
    body: 'json',
    handler: ({ inst, params, body }) => {
      const catalog = inst.assets;
      const campaign = campaignOrThrow(catalog, params.id);
      if (body !== undefined && !isRecord(body)) throw new MarketoError('1003', 'Invalid data');
      const input = body?.input ?? {};
      if (!isRecord(input)) throw new MarketoError('1003', "Invalid value for 'input'");
      if (campaign.type !== 'batch') throw new MarketoError('1003', 'Invalid data');
      const now = inst.clock.now();
      // Without runAt Marketo runs the campaign five minutes after the call.
      let runAt = now + 5 * 60_000;
      if (input.runAt !== undefined) {
        const parsed = typeof input.runAt === 'string' ? parseDateTime(input.runAt) : undefined;
        if (parsed === undefined || parsed > twoYearsAfter(now)) {
          throw new MarketoError('1042', 'Invalid runAt date');
        }
        runAt = parsed;
      }
      checkTokens(input.tokens);
      let target = campaign;
      if (input.cloneToProgramName !== undefined) {
        const name = input.cloneToProgramName;
        if (typeof name !== 'string' || name.trim() === '') {
          throw new MarketoError('1003', "Invalid value for 'cloneToProgramName'");
        }
        if (catalog.programByName(name)) throw new MarketoError('1003', `Program '${name}' already exists`);
        target = catalog.cloneProgramOf(campaign, name);
      }
      catalog.schedule(target, runAt);
      return { result: [{ id: target.id }] };
    },
  },
];
