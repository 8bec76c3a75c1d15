/**
 * Hostile HTTP requests for the relay's and the inspector's HTTP and upgrade surface (issue 21:
 * one upgrade to `/rings/%E0%A4%A` once killed the relay): malformed percent-encodings, huge and
 * odd paths, repeated and encoded parameter names, and odd Host, Origin, Authorization and
 * Sec-WebSocket-* headers, against every endpoint each server has. Each request is raw bytes, so
 * nothing a well-behaved client library would refuse to send is left out.
 */
import type { Rng } from '../sim/rng.js';

export type Server = 'relay' | 'inspector';

export interface SurfaceRequest {
  server: Server;
  /** For the report: `relay:upgrade /rings`, `inspector:GET /api/state`... */
  kind: string;
  bytes: Buffer;
}

interface Endpoint {
  path: string;
  upgrade: boolean;
  /** Query parameters the endpoint reads: these get the encoded-name and repeated-name treatment. */
  params: readonly string[];
}

/** Every endpoint of relay/http.ts and relay/server.ts's upgrade handler. */
const RELAY_ENDPOINTS: readonly Endpoint[] = [
  { path: '/', upgrade: true, params: ['role', 'resume', 'id', 'host', 'meta', 'token'] },
  { path: '/rings/', upgrade: true, params: ['role', 'resume', 'id', 'host', 'meta', 'token'] },
  { path: '/healthz', upgrade: false, params: [] },
  { path: '/status', upgrade: false, params: ['ring'] },
  { path: '/rings', upgrade: false, params: [] },
  { path: '/metrics', upgrade: false, params: [] },
];

/** Every endpoint of inspector/server/index.ts: its API, its page, and its three WebSockets. */
const INSPECTOR_ENDPOINTS: readonly Endpoint[] = [
  { path: '/healthz', upgrade: false, params: [] },
  { path: '/api/state', upgrade: false, params: ['ring', 'token'] },
  { path: '/api/stats', upgrade: false, params: ['token'] },
  { path: '/api/control', upgrade: false, params: ['token'] },
  { path: '/stately', upgrade: false, params: [] },
  { path: '/', upgrade: false, params: [] },
  { path: '/main.js', upgrade: false, params: [] },
  { path: '/inspect', upgrade: true, params: ['name', 'token'] },
  { path: '/events', upgrade: true, params: ['ring', 'token'] },
  { path: '/stately-events', upgrade: true, params: [] },
];

/** Percent-encodings that are not UTF-8, or not encodings at all: decodeURIComponent throws on most. */
const BAD_ESCAPES = ['%', '%%', '%E0%A4%A', '%E0%A4', '%ZZ', '%C0%AF', '%FF', '%80', '%ED%A0%80', '%F4%90%80%80', '%0', '%u0041', '%00', '%0A', '%0D%0A', '%2F', '%2e%2e', '%C3%28'];
const ODD_SEGMENTS = ['', '.', '..', '...', '//', '~', '*', '__proto__', 'constructor', 'a'.repeat(65), 'ring name', 'ринг', '😀', ';', ',', '@', ':', '\\', '%20', '+'];
const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PRI', 'get', 'G E T', 'GÉT', ''];
const METAS = ['{}', '{"url":"http://10.0.0.5"}', '[]', 'null', '"x"', '1', '{', '{"__proto__":{"x":1}}', '{"url":"\\u001b[2J\\n"}'];

/** One request at a random endpoint of `server`, hostile in one or more of its parts. */
export function surfaceRequest(rng: Rng, server: Server, port: number): SurfaceRequest {
  const endpoint = rng.pick(server === 'relay' ? RELAY_ENDPOINTS : INSPECTOR_ENDPOINTS);
  const upgrade = endpoint.upgrade && rng.chance(0.85);
  const method = upgrade ? (rng.chance(0.9) ? 'GET' : rng.pick(METHODS)) : rng.pick(METHODS);
  const path = oddPath(rng, endpoint);
  const query = oddQuery(rng, endpoint.params);
  const headers = oddHeaders(rng, port, upgrade);
  const body = method === 'POST' || method === 'PUT' || rng.chance(0.05) ? oddBody(rng, headers) : '';
  const target = rng.chance(0.03) ? rng.pick(['*', `http://127.0.0.1:${port}${path}`, `//evil${path}`, `${path}#frag`]) : path;
  const line = `${method} ${target}${query} ${rng.chance(0.95) ? 'HTTP/1.1' : rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', 'HTTP/9'])}`;
  const bytes = Buffer.from(`${line}\r\n${headers.join('\r\n')}\r\n\r\n${body}`, rng.chance(0.1) ? 'latin1' : 'utf8');
  const shape = endpoint.path === '/rings/' ? '/rings/<name>' : endpoint.path;
  return { server, kind: `${server}:${upgrade ? 'upgrade' : 'http'} ${shape}`, bytes };
}

function oddPath(rng: Rng, endpoint: Endpoint): string {
  if (endpoint.path === '/rings/') {
    const name = rng.chance(0.4) ? rng.pick(BAD_ESCAPES) : rng.chance(0.5) ? rng.pick(ODD_SEGMENTS) : `fuzz-${rng.int(0, 20)}`;
    return `/rings/${rng.chance(0.3) ? encodeLoosely(rng, name) : name}${rng.chance(0.1) ? `/${rng.pick(BAD_ESCAPES)}` : ''}`;
  }
  const roll = rng.next();
  if (roll < 0.5) return endpoint.path;
  if (roll < 0.65) return `${endpoint.path}${rng.pick(BAD_ESCAPES)}`;
  if (roll < 0.75) return encodeLoosely(rng, endpoint.path);
  if (roll < 0.85) return `/${rng.pick(ODD_SEGMENTS)}${endpoint.path}`;
  // Long paths: some under the 16 KB header limit, some over it (HTTP 431).
  return `${endpoint.path}/${'a/'.repeat(rng.pick([100, 2000, 9000]))}`;
}

/** Percent-encodes some characters of `text` that need none (`/status` as `/%73tatus`). */
function encodeLoosely(rng: Rng, text: string): string {
  return [...text].map((char) => (char !== '/' && rng.chance(0.4) ? `%${char.charCodeAt(0).toString(16).padStart(2, '0').slice(-2).toUpperCase()}` : char)).join('');
}

function oddQuery(rng: Rng, params: readonly string[]): string {
  if (rng.chance(0.3)) return '';
  const pairs: string[] = [];
  const count = rng.int(1, 6);
  for (let index = 0; index < count; index += 1) {
    const name = params.length > 0 && rng.chance(0.8) ? rng.pick(params) : rng.pick(['x', '', '=', '&', 'role[]', '__proto__', rng.pick(BAD_ESCAPES)]);
    const shownName = rng.chance(0.3) ? encodeLoosely(rng, name) : name;
    pairs.push(rng.chance(0.1) ? shownName : `${shownName}=${oddValue(rng, name)}`);
    // The same parameter again, maybe under another spelling: which one wins must not matter.
    if (rng.chance(0.2)) pairs.push(`${encodeLoosely(rng, name)}=${oddValue(rng, name)}`);
  }
  return `?${pairs.join(rng.chance(0.9) ? '&' : rng.pick(['&&', ';', '&amp;']))}`;
}

function oddValue(rng: Rng, name: string): string {
  const roll = rng.next();
  if (roll < 0.2) return rng.pick(BAD_ESCAPES);
  if (roll < 0.3) return 'x'.repeat(rng.pick([70, 300, 1100, 14_000]));
  if (name === 'role') return rng.pick(['member', 'observer', 'MEMBER', 'leader', '', 'observer%00']);
  if (name === 'meta') return rng.chance(0.5) ? encodeURIComponent(rng.pick(METAS)) : rng.pick(METAS);
  if (name === 'host') return rng.pick(['node-1', '', 'a'.repeat(254), 'host name', '%0Ahost', 'ünï']);
  if (name === 'ring') return rng.pick(['default', 'fuzz-1', '', '..', 'a'.repeat(65), '%E0%A4%A']);
  if (name === 'token') return rng.pick(['', 'wrong', 'x'.repeat(5000), '%00']);
  return rng.pick(ODD_SEGMENTS);
}

function oddHeaders(rng: Rng, port: number, upgrade: boolean): string[] {
  const headers: string[] = [];
  const host = rng.chance(0.8) ? `127.0.0.1:${port}` : rng.pick(['', 'evil.example', 'localhost', '[::1]', `127.0.0.1:${port}:1`, 'a'.repeat(3000), '127.0.0.1%00', 'ünï.example']);
  if (rng.chance(0.95)) headers.push(`Host: ${host}`);
  if (rng.chance(0.1)) headers.push(`Host: ${rng.pick(['second.example', host])}`);
  if (rng.chance(0.4)) headers.push(`Origin: ${rng.pick(['null', `http://127.0.0.1:${port}`, 'http://evil.example', 'file://', 'javascript:alert(1)', 'http://[::1', '%', 'http://' + 'a'.repeat(2000)])}`);
  if (rng.chance(0.4)) headers.push(`Authorization: ${rng.pick(['Bearer', 'Bearer ', 'Bearer wrong', 'Basic dXNlcjpwYXNz', 'bearer  x  ', 'Bearer ' + 'x'.repeat(5000), '\u00ff\u00fe'])}`);
  if (rng.chance(0.05)) headers.push('Authorization: Bearer again');
  if (upgrade) {
    if (rng.chance(0.9)) headers.push(`Connection: ${rng.pick(['Upgrade', 'upgrade', 'keep-alive, Upgrade', 'close', 'Upgrade, Upgrade'])}`);
    if (rng.chance(0.9)) headers.push(`Upgrade: ${rng.pick(['websocket', 'websocket', 'WebSocket', 'h2c', 'websocket, h2c', ''])}`);
    if (rng.chance(0.9)) headers.push(`Sec-WebSocket-Version: ${rng.pick(['13', '13', '13', '8', '99', '', 'x', '13, 8'])}`);
    if (rng.chance(0.9)) headers.push(`Sec-WebSocket-Key: ${rng.pick(['dGhlIHNhbXBsZSBub25jZQ==', 'dGhlIHNhbXBsZSBub25jZQ==', 'short', '', '!!!!!!!!!!!!!!!!!!!!!!==', 'x'.repeat(1000)])}`);
    if (rng.chance(0.2)) headers.push(`Sec-WebSocket-Protocol: ${rng.pick(['chat', 'chat, chat', ',,,', 'a b', 'x'.repeat(500)])}`);
    if (rng.chance(0.2)) headers.push(`Sec-WebSocket-Extensions: ${rng.pick(['permessage-deflate', 'permessage-deflate; client_max_window_bits=99', 'x-unknown; ;;', '"', 'permessage-deflate, permessage-deflate'])}`);
  }
  if (rng.chance(0.05)) headers.push(`X-${'a'.repeat(rng.pick([10, 20_000]))}: y`);
  if (rng.chance(0.05)) headers.push(rng.pick(['NoColon', ': empty-name', 'Bad Name: x', 'X: a\u0000b', 'X:\tfolded\r\n continued']));
  if (rng.chance(0.03)) headers.push('Expect: 100-continue');
  return headers;
}

function oddBody(rng: Rng, headers: string[]): string {
  const body = rng.pick(['{}', '{"action":"crash"}', 'x'.repeat(rng.pick([10, 70_000])), '\u0000\u0001']);
  const framing = rng.pick(['length', 'length', 'wrong-length', 'chunked', 'both']);
  if (framing === 'length' || framing === 'both') headers.push(`Content-Length: ${Buffer.byteLength(body)}`);
  if (framing === 'wrong-length') headers.push(`Content-Length: ${rng.pick(['-1', '1e3', '99999999999999999999', 'x'])}`);
  if (framing === 'chunked' || framing === 'both') {
    headers.push('Transfer-Encoding: chunked');
    return `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  }
  return body;
}
