/**
 * Which requests may reach the inspector at all: a guard against cross-site requests and DNS
 * rebinding. The inspector's controls kill processes, and with no RING_TOKEN (the default of
 * `npm start`) nothing else stands between them and any web page the user happens to open:
 *
 * - `Origin`, when present (browsers send it on every POST and WebSocket), must be the
 *   inspector's own origin: `http://` plus the Host the request was sent to. A form or script on
 *   another site is refused.
 * - `Host` must name this inspector, so a hostile name that resolves to 127.0.0.1 (DNS
 *   rebinding, which makes Origin and Host agree) is refused too. Bound to loopback: a loopback
 *   name or address with the inspector's port. Bound to another interface (or all of them): that
 *   address, any address of this machine, or its hostname, with any port (a published Docker
 *   port or NAT changes the port the browser sees). Plus the explicit allow-list
 *   (`--allowed-hosts`), for reverse proxies and Compose service names.
 */
import type { IncomingMessage } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';

export interface AllowedHost {
  hostname: string;
  /** null: any port. */
  port: number | null;
}

export interface RequestPolicyOptions {
  /** The interface the inspector listens on, e.g. 127.0.0.1 or 0.0.0.0. */
  host: string;
  port: number;
  allowedHosts?: readonly AllowedHost[] | undefined;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

/** Whether an address to listen on is loopback only. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * `--allowed-hosts`: comma-separated `name` (any port) or `name:port` entries, e.g.
 * `inspector,ring.example.com:443`. Throws with a message naming the bad entry.
 */
export function parseAllowedHosts(text: string): AllowedHost[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const parsed = hostOf(entry);
      if (parsed === null || entry.includes('/') || entry.includes('@')) throw new Error(`"${entry}" is not a host name or host:port`);
      return { hostname: parsed.hostname, port: /:\d+$/.test(entry) ? parsed.port : null };
    });
}

export class RequestPolicy {
  private readonly allowed: readonly AllowedHost[];
  private readonly bound: string;

  constructor(private readonly options: RequestPolicyOptions) {
    this.allowed = options.allowedHosts ?? [];
    this.bound = (hostOf(options.host) ?? { hostname: options.host.toLowerCase() }).hostname;
  }

  /**
   * Why the request must be refused (403), or null when it may proceed. With
   * `checkHostWithoutOrigin: false` a request without `Origin` is not checked at all: that is
   * /inspect, whose callers are processes (a Compose node names the inspector by its service
   * name), while DNS rebinding needs a browser, and browsers send Origin on every WebSocket.
   */
  refusal(request: IncomingMessage, { checkHostWithoutOrigin = true } = {}): string | null {
    const origin = request.headers.origin;
    if (origin === undefined && !checkHostWithoutOrigin) return null;
    const hostHeader = request.headers.host;
    const host = hostHeader === undefined ? null : hostOf(hostHeader);
    if (host === null) return 'missing or unreadable Host header';
    if (!this.hostAllowed(host)) return `Host "${hostHeader}" does not name this inspector (see --allowed-hosts)`;
    if (origin !== undefined && !this.originMatches(origin, host)) return `cross-origin request from "${origin}"`;
    return null;
  }

  private hostAllowed(host: { hostname: string; port: number }): boolean {
    if (this.allowed.some((entry) => entry.hostname === host.hostname && (entry.port === null || entry.port === host.port))) return true;
    if (isLoopbackHost(this.options.host)) return (LOOPBACK_NAMES.has(host.hostname) || host.hostname === this.bound) && host.port === this.options.port;
    return this.namesOfThisMachine().has(host.hostname);
  }

  private namesOfThisMachine(): Set<string> {
    const names = new Set([this.bound, hostname().toLowerCase()]);
    if (WILDCARDS.has(this.options.host)) {
      for (const name of LOOPBACK_NAMES) names.add(name);
      for (const addresses of Object.values(networkInterfaces())) {
        for (const { address, family } of addresses ?? []) names.add(family === 'IPv6' ? `[${address.replace(/%.*$/, '')}]` : address);
      }
    }
    return names;
  }

  /** `http://<Host>`; `https://` only for an allow-listed host (a TLS-terminating proxy in front). */
  private originMatches(origin: string, host: { hostname: string; port: number }): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // includes "null" (sandboxed frames, file: pages)
    }
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (url.hostname !== host.hostname) return false;
    if (url.protocol === 'http:') return port === host.port;
    if (url.protocol === 'https:') return this.allowed.some((entry) => entry.hostname === url.hostname && (entry.port === null || entry.port === port));
    return false;
  }
}

/** Hostname (lower case, IPv6 in brackets) and port (80 when absent) of a Host header value. */
function hostOf(value: string): { hostname: string; port: number } | null {
  if (value === '' || /[\s/?#@\\]/.test(value)) return null;
  try {
    const url = new URL(`http://${value}`);
    return { hostname: url.hostname, port: Number(url.port || 80) };
  } catch {
    return null;
  }
}
