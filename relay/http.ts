/**
 * The relay's plain HTTP side, on the WebSocket port: /healthz, /status(?ring=), /rings, /metrics.
 * Anything else is 404, and a known path with a method other than GET/HEAD is 405.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HttpEndpoints {
  /** `/status?ring=<name>`: null when there is no such ring (404). */
  status(ring: string | null): unknown;
  /** `/rings`: every ring the relay keeps. */
  rings(): unknown;
  metrics(): string;
}

const ALLOWED_METHODS = 'GET, HEAD';

export function createHttpHandler(endpoints: HttpEndpoints) {
  const json = (value: unknown) => ({ type: 'application/json; charset=utf-8', body: JSON.stringify(value) });
  const routes: Record<string, (query: URLSearchParams) => { type: string; body: string; status?: number }> = {
    '/healthz': () => ({ type: 'text/plain; charset=utf-8', body: 'ok' }),
    '/status': (query) => {
      const ring = query.get('ring');
      const status = endpoints.status(ring);
      return status === null ? { ...json({ error: `no ring ${JSON.stringify((ring ?? '').slice(0, 80))} on this relay: see /rings` }), status: 404 } : json(status);
    },
    '/rings': () => json(endpoints.rings()),
    '/metrics': () => ({ type: 'text/plain; version=0.0.4; charset=utf-8', body: endpoints.metrics() }),
  };

  // Every path, query and header gets an answer: an exception would reach the server's emitter
  // and end the relay (issue 21).
  return function handleHttp(request: IncomingMessage, response: ServerResponse): void {
    try {
      answer(request, response);
    } catch (error) {
      if (response.headersSent) response.destroy();
      else reply(response, 500, 'text/plain; charset=utf-8', `internal error: ${(error as Error).message}\n`);
    }
  };

  function answer(request: IncomingMessage, response: ServerResponse): void {
    const target = request.url ?? '/';
    const queryAt = target.indexOf('?');
    const path = queryAt === -1 ? target : target.slice(0, queryAt);
    const query = new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1));
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) {
      reply(response, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /status, /rings, /metrics, or a WebSocket upgrade\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', ALLOWED_METHODS);
      reply(response, 405, 'text/plain; charset=utf-8', `method ${request.method} not allowed: use GET\n`);
      return;
    }
    let page: { type: string; body: string; status?: number };
    try {
      page = route(query);
    } catch (error) {
      reply(response, 500, 'text/plain; charset=utf-8', `internal error: ${(error as Error).message}\n`);
      return;
    }
    reply(response, page.status ?? 200, page.type, request.method === 'HEAD' ? null : page.body, Buffer.byteLength(page.body));
  }
}

function reply(response: ServerResponse, status: number, type: string, body: string | null, length?: number): void {
  response.statusCode = status;
  response.setHeader('Content-Type', type);
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Content-Length', String(length ?? Buffer.byteLength(body ?? '')));
  response.end(body ?? undefined);
}
