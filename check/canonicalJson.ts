/**
 * JSON with object keys sorted, so that two equal values always give the same text whatever
 * order their keys were built in (a frame spread with `from` last, a leader built as
 * `{...entry, term}`): the checker's notion of "the same state" must not depend on that.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return value === undefined ? 'null' : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  // As JSON.stringify: a value that says how it serialises (a MemberList: its ids, not the
  // backing array it shares with other versions) is keyed by that.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON(): unknown }).toJSON());
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
}
