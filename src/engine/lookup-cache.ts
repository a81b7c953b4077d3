/**
 * Short-lived caches for the per-call lookups of hot paths (secret key → environment, integration,
 * connection): each call otherwise costs three prepared SQL statements and a decryption. Entries
 * live a second or a few; writers that must be seen at once call `forget()`.
 */
export class TtlCache<K, V> {
  private readonly map = new Map<K, { value: V; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}

  get(key: K, now = Date.now()): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.until <= now) {
      this.map.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: K, value: V, now = Date.now()): void {
    if (this.map.size >= this.max) {
      // Oldest first (insertion order): a bounded cache, not an LRU; good enough for a 1 s TTL.
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.delete(key);
    this.map.set(key, { value, until: now + this.ttlMs });
  }

  forget(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}

/** One cache of each name per store (tests run several Tethers in one process). */
export function cachesOf<T>(owner: object, name: string, create: () => T): T {
  let byName = registry.get(owner);
  if (!byName) registry.set(owner, (byName = new Map()));
  let found = byName.get(name) as T | undefined;
  if (found === undefined) {
    found = create();
    byName.set(name, found);
  }
  return found;
}

const registry = new WeakMap<object, Map<string, unknown>>();
