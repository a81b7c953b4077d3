/**
 * Marketo's actions and the action contract (src/providers/action-contract.ts) they implement for the
 * engine that runs them for `POST /action/trigger` (Nango's actions: `triggerAction`, `triggerActionAsync`).
 *
 * An action is a write (or a targeted read) a product asks for on one connection: "upsert these leads",
 * "add these leads to list 1001", "trigger campaign 1020 for them". The action knows Marketo: its
 * endpoints, batch sizes (300 leads a call, 100 for a campaign trigger…), per-record statuses and the
 * envelope's error codes; the engine does auth, traffic control (interactive priority), retries of calls
 * Marketo did not run (606/615/5xx), input validation with the action's schema, async execution, and
 * turns a thrown {@link MarketoSyncError} into an HTTP error.
 */
export * from '../../providers/action-contract.ts';
export { MarketoSyncError } from '../models/types.ts';
