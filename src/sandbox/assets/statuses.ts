import type { ProgramType } from './model.ts';

/** One progression status of a program's channel. */
export interface StatusDef {
  name: string;
  success: boolean;
}

/** The status a lead has before it joins a program (and after it leaves): it is then no member. */
export const NOT_IN_PROGRAM = 'Not in Program';

/**
 * Progression statuses of the channel each program type uses (Marketo's default channels), in
 * progression order; "Not in Program" is left out: a lead with it is not a member. Program members
 * and "Change Status in Progression" activities both read this table, so they cannot disagree.
 */
export const PROGRESSION_STATUSES: Record<ProgramType, readonly StatusDef[]> = {
  Default: [
    { name: 'Member', success: false },
    { name: 'Engaged', success: true },
  ],
  Engagement: [
    { name: 'Member', success: false },
    { name: 'Engaged', success: true },
  ],
  Email: [
    { name: 'Member', success: false },
    { name: 'Sent', success: false },
    { name: 'Opened', success: false },
    { name: 'Clicked', success: true },
  ],
  Event: [
    { name: 'Invited', success: false },
    { name: 'Registered', success: false },
    { name: 'No Show', success: false },
    { name: 'Attended', success: true },
  ],
  'Event with Webinar': [
    { name: 'Invited', success: false },
    { name: 'Registered', success: false },
    { name: 'No Show', success: false },
    { name: 'Attended', success: true },
    { name: 'Attended On-demand', success: true },
  ],
};
