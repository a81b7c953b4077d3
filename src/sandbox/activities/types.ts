import type { ActivityTypeDef } from './log.ts';

/** Activity type ids the sandbox writes or generates (Marketo's well-known ids, spec 5.5). */
export const T = {
  VISIT_WEBPAGE: 1,
  FILL_OUT_FORM: 2,
  CLICK_LINK: 3,
  SEND_EMAIL: 6,
  EMAIL_DELIVERED: 7,
  EMAIL_BOUNCED: 8,
  UNSUBSCRIBE_EMAIL: 9,
  OPEN_EMAIL: 10,
  CLICK_EMAIL: 11,
  NEW_LEAD: 12,
  CHANGE_DATA_VALUE: 13,
  CHANGE_SCORE: 22,
  ADD_TO_LIST: 24,
  REMOVE_FROM_LIST: 25,
  MERGE_LEADS: 32,
  DELETE_LEAD: 37,
  CHANGE_PROGRAM_STATUS: 104,
  PUSH_LEAD_TO_MARKETO: 145,
  WATCH_WEBINAR_RECORDING: 100001,
} as const;

const s = (name: string) => ({ name, dataType: 'string' });
const i = (name: string) => ({ name, dataType: 'integer' });
const b = (name: string) => ({ name, dataType: 'boolean' });
const t = (name: string) => ({ name, dataType: 'text' });

const webVisit = [s('Client IP Address'), s('Query Parameters'), s('Referrer URL'), s('User Agent')];
const emailRun = [i('Campaign Run ID'), i('Choice Number'), i('Step ID')];
const emailClient = [s('Device'), b('Is Mobile Device'), s('Platform'), s('User Agent')];
const apiSource = [s('API Method Name'), s('Modifying User'), s('Request Id'), s('Source')];

/**
 * The activity types of a fresh instance as `activities/types.json` lists them (ascending id),
 * custom types last. Attribute names are the display names Marketo prints in activity items.
 */
export const ACTIVITY_TYPES: ActivityTypeDef[] = [
  {
    id: T.VISIT_WEBPAGE,
    name: 'Visit Webpage',
    description: 'User visits a web page',
    primaryAttribute: i('Webpage ID'),
    attributes: [...webVisit, s('Search Engine'), s('Search Query'), s('Webpage URL')],
  },
  {
    id: T.FILL_OUT_FORM,
    name: 'Fill Out Form',
    description: 'User fills out and submits form on web page',
    primaryAttribute: i('Webform ID'),
    attributes: [...webVisit, t('Form Fields'), i('Webpage ID')],
  },
  {
    id: T.CLICK_LINK,
    name: 'Click Link',
    description: 'User clicks link on a page',
    primaryAttribute: i('Link ID'),
    attributes: [...webVisit, i('Webpage ID')],
  },
  {
    id: T.SEND_EMAIL,
    name: 'Send Email',
    description: 'Send Marketo Email to a person',
    primaryAttribute: i('Mailing ID'),
    attributes: [...emailRun],
  },
  {
    id: T.EMAIL_DELIVERED,
    name: 'Email Delivered',
    description: 'Marketo Email is delivered to a person',
    primaryAttribute: i('Mailing ID'),
    attributes: [...emailRun],
  },
  {
    id: T.EMAIL_BOUNCED,
    name: 'Email Bounced',
    description: 'Marketo Email bounces for a person',
    primaryAttribute: i('Mailing ID'),
    attributes: [
      ...emailRun,
      s('Category'),
      s('Details'),
      { name: 'Email', dataType: 'email' },
      s('Subcategory'),
    ],
  },
  {
    id: T.UNSUBSCRIBE_EMAIL,
    name: 'Unsubscribe Email',
    description: 'Person unsubscribes from Marketo Emails',
    primaryAttribute: i('Mailing ID'),
    attributes: [...emailRun, ...webVisit, i('Webform ID'), i('Webpage ID')],
  },
  {
    id: T.OPEN_EMAIL,
    name: 'Open Email',
    description: 'User opens Marketo Email',
    primaryAttribute: i('Mailing ID'),
    attributes: [...emailRun, ...emailClient, b('Is Bot Activity'), s('Bot Activity Pattern')],
  },
  {
    id: T.CLICK_EMAIL,
    name: 'Click Email',
    description: 'User clicks on a link in a Marketo Email',
    primaryAttribute: i('Mailing ID'),
    attributes: [...emailRun, ...emailClient, s('Link'), i('Link ID'), b('Is Bot Activity')],
  },
  {
    id: T.NEW_LEAD,
    name: 'New Lead',
    description: 'New person',
    attributes: [
      s('API Method Name'),
      { name: 'Created Date', dataType: 'date' },
      s('Form Name'),
      s('Lead Source'),
      s('List Name'),
      s('Modifying User'),
      s('Request Id'),
      s('Source Type'),
    ],
  },
  {
    id: T.CHANGE_DATA_VALUE,
    name: 'Change Data Value',
    description: 'Changed attribute value for a person',
    primaryAttribute: i('Attribute Name'),
    attributes: [...apiSource, s('New Value'), s('Old Value'), s('Reason')],
  },
  {
    id: T.CHANGE_SCORE,
    name: 'Change Score',
    description: 'Change a score value for a person',
    primaryAttribute: i('Attribute Name'),
    attributes: [s('Change Value'), i('New Value'), i('Old Value'), s('Reason')],
  },
  {
    id: T.ADD_TO_LIST,
    name: 'Add to List',
    description: 'Add person to a list',
    primaryAttribute: i('List ID'),
    attributes: [...apiSource],
  },
  {
    id: T.REMOVE_FROM_LIST,
    name: 'Remove from List',
    description: 'Remove person from a list',
    primaryAttribute: i('List ID'),
    attributes: [...apiSource],
  },
  {
    id: T.MERGE_LEADS,
    name: 'Merge Leads',
    description: 'Merge two or more persons',
    primaryAttribute: i('Lead ID'),
    attributes: [s('Merge IDs'), b('Merged in Sales'), s('Merge Source'), b('Master Updated')],
  },
  {
    id: T.DELETE_LEAD,
    name: 'Delete Lead',
    description: 'Delete a person',
    primaryAttribute: i('Lead ID'),
    attributes: [b('Remove from CRM')],
  },
  {
    id: T.CHANGE_PROGRAM_STATUS,
    name: 'Change Status in Progression',
    description: "Change a person's program status",
    primaryAttribute: i('Program ID'),
    attributes: [
      b('Acquired By'),
      s('New Status'),
      i('New Status ID'),
      s('Old Status'),
      i('Old Status ID'),
      i('Program Member ID'),
      s('Reason'),
      b('Success'),
    ],
  },
  {
    id: T.PUSH_LEAD_TO_MARKETO,
    name: 'Push Lead to Marketo',
    description: 'Push a person to Marketo through the API',
    primaryAttribute: i('Program ID'),
    attributes: [s('Source'), s('Reason')],
  },
  {
    id: T.WATCH_WEBINAR_RECORDING,
    name: 'Watch Webinar Recording',
    description: 'Person watched a recorded webinar on the video platform',
    apiName: 'watchWebinarRecording_c',
    primaryAttribute: s('Webinar Title'),
    attributes: [i('Seconds Watched'), { name: 'Completion Percent', dataType: 'float' }, s('Platform')],
  },
];
