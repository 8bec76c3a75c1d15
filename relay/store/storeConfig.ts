/**
 * What `ringleader relay --store etcd://... --store-prefix ... --advertise-url ...` takes, checked
 * before anything connects: a bad value is a configuration error (exit 2) naming the value and
 * the rule it broke, never a relay that starts and guesses.
 */

/** `ringleader relay` exits 2 on bad configuration (as for every other flag). */
export const STORE_CONFIG_EXIT_CODE = 2;

export const DEFAULT_STORE_PREFIX = 'ringleader/';
export const DEFAULT_ETCD_PORT = 2379;

/** A store flag's value is unusable. */
export class StoreConfigError extends Error {
  override name = 'StoreConfigError';
  readonly exitCode = STORE_CONFIG_EXIT_CODE;
}

export interface EtcdStoreAddress {
  /** gRPC endpoints for the etcd3 client, `http://host:port`, in the order given. */
  endpoints: string[];
}

const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6_PATTERN = /^\[[0-9A-Fa-f:.]+\]$/;

function parsePort(text: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new StoreConfigError(`--store ${JSON.stringify(whole)}: port ${JSON.stringify(text)} is not a port (1-65535)`);
  }
  return Number(text);
}

/** One `host[:port]` of the list; the port defaults to etcd's 2379. */
function parseEndpoint(text: string, whole: string): string {
  if (text === '') throw new StoreConfigError(`--store ${JSON.stringify(whole)}: an empty host in the list (etcd://host:2379,host:2379)`);
  let host: string;
  let port = DEFAULT_ETCD_PORT;
  const bracketEnd = text.indexOf(']');
  if (text.startsWith('[')) {
    host = text.slice(0, bracketEnd + 1);
    const rest = text.slice(bracketEnd + 1);
    if (bracketEnd === -1 || (rest !== '' && !rest.startsWith(':'))) throw new StoreConfigError(`--store ${JSON.stringify(whole)}: ${JSON.stringify(text)} is not host:port`);
    if (rest !== '') port = parsePort(rest.slice(1), whole);
    if (!IPV6_PATTERN.test(host)) throw new StoreConfigError(`--store ${JSON.stringify(whole)}: ${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    if (colon !== -1) port = parsePort(text.slice(colon + 1), whole);
    if (!HOST_PATTERN.test(host) || host.length > 253) throw new StoreConfigError(`--store ${JSON.stringify(whole)}: ${JSON.stringify(host)} is not a host name or IPv4 address`);
  }
  return `http://${host}:${port}`;
}

/** Parses `etcd://host[:port][,host[:port]...]`. */
export function parseStoreUrl(text: string): EtcdStoreAddress {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme === null) throw new StoreConfigError(`--store ${JSON.stringify(text)}: expected etcd://host:2379[,host:2379...]`);
  if (scheme[1]!.toLowerCase() !== 'etcd') {
    throw new StoreConfigError(`--store ${JSON.stringify(text)}: unknown store "${scheme[1]}://"; the only store is etcd://host:2379[,host:2379...] (leave --store out for the relay's own memory or --state-file)`);
  }
  const rest = text.slice(scheme[0].length);
  if (/[/?#@]/.test(rest)) {
    throw new StoreConfigError(`--store ${JSON.stringify(text)}: no path, query, fragment or credentials after the hosts (etcd://host:2379[,host:2379...]; the key prefix is --store-prefix)`);
  }
  const endpoints = rest.split(',').map((part) => parseEndpoint(part.trim(), text));
  if (new Set(endpoints).size !== endpoints.length) throw new StoreConfigError(`--store ${JSON.stringify(text)}: a host is listed twice`);
  return { endpoints };
}

/** `--store-prefix`: where under etcd's key space this deployment's keys live. Printable, no spaces, 1-200 characters. */
export function parseStorePrefix(text: string): string {
  if (text.length < 1 || text.length > 200 || !/^[\x21-\x7e]+$/.test(text)) {
    throw new StoreConfigError(`--store-prefix ${JSON.stringify(text)}: 1-200 printable ASCII characters without spaces (default ${DEFAULT_STORE_PREFIX})`);
  }
  return text;
}

/**
 * `--advertise-url`: how members reach this relay, `ws://host:port` or `wss://host:port` (no path,
 * query or credentials: a standby puts the joiner's own path and query after it). Returned
 * normalised (no trailing slash), so two spellings of one URL compare equal.
 */
export function parseAdvertiseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new StoreConfigError(`--advertise-url ${JSON.stringify(text)}: not a URL; expected ws://host:port (how members reach this relay)`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new StoreConfigError(`--advertise-url ${JSON.stringify(text)}: must be ws:// or wss://`);
  if (url.username !== '' || url.password !== '') throw new StoreConfigError(`--advertise-url ${JSON.stringify(text)}: no credentials in the URL`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new StoreConfigError(`--advertise-url ${JSON.stringify(text)}: no path, query or fragment (ws://host:port); joiners keep their own path and query`);
  }
  if (url.hostname === '') throw new StoreConfigError(`--advertise-url ${JSON.stringify(text)}: no host`);
  if (['0.0.0.0', '[::]'].includes(url.hostname)) {
    throw new StoreConfigError(`--advertise-url ${JSON.stringify(text)}: ${url.hostname} is where a relay listens, not an address members can reach; name this relay's host`);
  }
  return `${url.protocol}//${url.host}`;
}
