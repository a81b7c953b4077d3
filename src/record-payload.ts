/**
 * A record already serialised exactly as the records cache stores it (db/record-json.ts format: the
 * record's JSON with sorted keys, no `undefined` members, no `_nango_metadata`, then `"id":"<id>"` as the
 * last member). Neither engine nor provider code: a provider that can write that text more cheaply than
 * an object (the Lead export reader writes it straight from the CSV text) hands these to `io.save` next
 * to plain records, and the records store keeps `payload` as is, comparing it with the stored text for
 * change detection. Whoever builds one owns the format: the same content must always give the same text.
 */
export class PayloadRecord {
  constructor(
    /** The external id, as in the payload's last member. */
    readonly id: string,
    /** `{…sorted members…,"id":"<id>"}`. */
    readonly payload: string,
  ) {}

  /** JSON.stringify writes the record it holds (for logs and tests; the store uses `payload`). */
  toJSON(): unknown {
    return JSON.parse(this.payload);
  }
}
