/**
 * `schedule-campaign`: Schedule Campaign (`POST /rest/v1/campaigns/{id}/schedule.json`, spec 5.8) for a
 * batch campaign: at `runAt` (at most two years ahead, else Marketo's 1042), or about five minutes after
 * the call when it is left out; optionally on a clone of its program (`cloneToProgramName`) and with My
 * Tokens. A trigger campaign is refused with 1003, an unknown one with 1013.
 *
 * Output: `{campaignId, scheduled: true, runAt, scheduledCampaignId}`: `runAt` is the instant asked for
 * (`YYYY-MM-DDTHH:MM:SSZ`), null when Marketo picks it; `scheduledCampaignId` is the campaign Marketo
 * scheduled (the clone's when `cloneToProgramName` is given). Not idempotent (a clone name can be
 * used once; a second schedule replaces the first).
 */
import { z } from 'zod';
import { isoSeconds } from '../models/api.ts';
import { campaignTokens, marketoId, postChecked, type CampaignTokens } from './shared.ts';
import type { ActionDef } from './types.ts';

export const scheduleCampaignInput = z.object({
  campaignId: marketoId('campaignId'),
  runAt: z.iso
    .datetime({ offset: true, error: 'runAt is an ISO-8601 datetime such as 2030-01-31T10:00:00Z' })
    .optional(),
  cloneToProgramName: z.string().trim().min(1, 'cloneToProgramName cannot be blank').max(255).optional(),
  tokens: campaignTokens,
});
export type ScheduleCampaignInput = z.infer<typeof scheduleCampaignInput>;

export interface ScheduleCampaignOutput {
  campaignId: number;
  scheduled: true;
  runAt: string | null;
  scheduledCampaignId: number;
}

/** Marketo's body: `{input: {runAt?, cloneToProgramName?, tokens?}}`, runAt without milliseconds. */
export function scheduleBody(input: {
  runAt?: string;
  cloneToProgramName?: string;
  tokens?: CampaignTokens;
}): { input: Record<string, unknown> } {
  const body: Record<string, unknown> = {};
  if (input.runAt !== undefined) body.runAt = isoSeconds(Date.parse(input.runAt));
  if (input.cloneToProgramName !== undefined) body.cloneToProgramName = input.cloneToProgramName;
  if (input.tokens !== undefined && input.tokens.length > 0) body.tokens = input.tokens;
  return { input: body };
}

export const scheduleCampaign: ActionDef<ScheduleCampaignInput, ScheduleCampaignOutput> = {
  name: 'schedule-campaign',
  description:
    'Schedule a Marketo batch campaign to run at a given time (default: in about five minutes), ' +
    'optionally on a clone of its program and with My Tokens.',
  input: scheduleCampaignInput,
  idempotent: false,
  async run(io, input) {
    const body = scheduleBody(input);
    const env = await postChecked(io, `/rest/v1/campaigns/${input.campaignId}/schedule.json`, body);
    const id = env.result[0]?.id;
    return {
      campaignId: input.campaignId,
      scheduled: true,
      runAt: typeof body.input.runAt === 'string' ? body.input.runAt : null,
      scheduledCampaignId: typeof id === 'number' ? id : input.campaignId,
    };
  },
};
