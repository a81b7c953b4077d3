/**
 * Query strings as Nango's server reads them (qs): repeated keys become arrays and one level of
 * brackets becomes an object (`params[endpointURL]=x` → `{params:{endpointURL:'x'}}`).
 */
export type QueryValue = string | string[] | Record<string, string>;

export function parseQuery(search: string): Record<string, QueryValue> {
  const out: Record<string, QueryValue> = {};
  for (const [rawKey, value] of new URLSearchParams(search)) {
    const m = /^([^[\]]+)\[([^[\]]*)\]$/.exec(rawKey);
    if (m) {
      const [, key, sub] = m as unknown as [string, string, string];
      if (sub === '') {
        const cur = out[key];
        out[key] = Array.isArray(cur) ? [...cur, value] : typeof cur === 'string' ? [cur, value] : [value];
        continue;
      }
      const cur = out[key];
      const obj = cur !== undefined && typeof cur === 'object' && !Array.isArray(cur) ? cur : {};
      obj[sub] = value;
      out[key] = obj;
      continue;
    }
    const cur = out[rawKey];
    if (cur === undefined) out[rawKey] = value;
    else if (Array.isArray(cur)) cur.push(value);
    else if (typeof cur === 'string') out[rawKey] = [cur, value];
    else out[rawKey] = value;
  }
  return out;
}
