/**
 * `trigger-campaign`: Request Campaign (`POST /rest/v1/campaigns/{id}/trigger.json`, spec 5.8) for up
 * to 1,000 leads, 100 a call (Marketo's limit for this endpoint), with optional My Tokens. The campaign
 * must be an active trigger campaign with a "Campaign is Requested" (Web Service API) trigger; Marketo
 * refuses others with 1003, an unknown campaign with 1013.
 *
 * Output: `{campaignId, leads, calls}`: leads requested (duplicates in the input counted once) and
 * Marketo calls made. Not idempotent: each run sends the leads through the campaign's flow again.
 */
import { z } from 'zod';
import {
  campaignTokens,
  chunk,
  idList,
  marketoId,
  postChecked,
  runBatches,
  type CampaignTokens,
} from './shared.ts';
import type { ActionDef } from './types.ts';

/** Marketo's limit of leads per Request Campaign call. */
export const TRIGGER_BATCH = 100;
const MAX_LEADS = 1_000;

export const triggerCampaignInput = z.object({
  campaignId: marketoId('campaignId'),
  leadIds: idList('lead id', MAX_LEADS),
  tokens: campaignTokens,
});
export type TriggerCampaignInput = z.infer<typeof triggerCampaignInput>;

export interface TriggerCampaignOutput {
  campaignId: number;
  leads: number;
  calls: number;
}

/** Marketo's body for one call: `{input: {leads: [{id}], tokens?}}`. */
export function triggerBody(leadIds: readonly number[], tokens: CampaignTokens) {
  const input: Record<string, unknown> = { leads: leadIds.map((id) => ({ id })) };
  if (tokens !== undefined && tokens.length > 0) input.tokens = tokens;
  return { input };
}

export const triggerCampaign: ActionDef<TriggerCampaignInput, TriggerCampaignOutput> = {
  name: 'trigger-campaign',
  description:
    'Run leads through a Marketo trigger campaign ("Campaign is Requested" from the Web Service API), ' +
    '100 leads per call, optionally setting My Tokens. Not safe to repeat: leads go through the flow again.',
  input: triggerCampaignInput,
  idempotent: false,
  async run(io, input) {
    const ids = [...new Set(input.leadIds)];
    const batches = chunk(ids, TRIGGER_BATCH);
    const path = `/rest/v1/campaigns/${input.campaignId}/trigger.json`;
    await runBatches(io, 'trigger-campaign', batches, { noun: 'leads', verb: 'requested' }, async (batch) => {
      await postChecked(io, path, triggerBody(batch, input.tokens));
      return [];
    });
    return { campaignId: input.campaignId, leads: ids.length, calls: batches.length };
  },
};
