/** Shapes of the asset catalog: folders, programs and smart campaigns as the sandbox stores them. */

export type ProgramType = 'Default' | 'Engagement' | 'Email' | 'Event' | 'Event with Webinar';

/** Marketo's program status depends on the type: "on"/"off" (engagement), "locked"… (email), "" otherwise. */
export type ProgramStatus = '' | 'on' | 'off' | 'locked' | 'unlocked';

export interface Folder {
  id: number;
  name: string;
  /** null for the workspace's root ("Marketing Activities"). */
  parentId: number | null;
}

export interface ProgramTag {
  tagType: string;
  tagValue: string;
}

export interface ProgramCost {
  /** Epoch ms of the period start. */
  startDate: number;
  cost: number;
  note: string;
}

export interface Program {
  id: number;
  name: string;
  description: string;
  type: ProgramType;
  channel: string;
  folderId: number;
  status: ProgramStatus;
  workspace: string;
  /** Epoch ms, whole seconds (the API prints seconds; filters compare what clients see). */
  createdAt: number;
  updatedAt: number;
  tags: ProgramTag[];
  costs: ProgramCost[];
  /** Event-like programs only. */
  startDate?: number;
  endDate?: number;
}

export type CampaignType = 'batch' | 'trigger';

export interface SmartCampaign {
  id: number;
  name: string;
  description: string;
  type: CampaignType;
  programId: number;
  isActive: boolean;
  /** Trigger campaigns with a "Campaign is Requested" (Web Service API) trigger. */
  isRequestable: boolean;
  /** Batch campaigns that repeat on a schedule. */
  recurring: boolean;
  /** Batch campaigns that ran at least once (status "Inactive" rather than "Never Run"). */
  hasRun: boolean;
  qualificationRuleType: 'once' | 'any' | 'interval';
  qualificationRuleInterval?: number;
  qualificationRuleUnit?: 'hour' | 'day' | 'week' | 'month';
  maxMembers?: number;
  smartListId: number;
  flowId: number;
  createdAt: number;
  updatedAt: number;
  /** When the API last scheduled this batch campaign to run (epoch ms). */
  scheduledRunAt?: number;
}

/** Down to whole seconds, as the API shows dates. */
export function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
