/**
 * A response body read as JSON, but never more than `maxBytes` of it: a relay (or anything at its
 * address) that answers with an endless or enormous body costs the inspector that many bytes and
 * a cancelled request, never its memory (issue 21: a hostile relay once took it from 185 to 465 MB).
 */

/** The body parsed as JSON; null when it is larger than `maxBytes` (declared or as it streams) or not JSON. */
export async function readCappedJson(response: Response, maxBytes: number): Promise<unknown> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes || response.body === null) {
    await response.body?.cancel().catch(() => {});
    return null;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return null;
  }
}
