/**
 * The relay's plain HTTP side, on the WebSocket port: /healthz, /status, /metrics.
 * Anything else is 404, and a known path with a method other than GET/HEAD is 405.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HttpEndpoints {
  status(): unknown;
  metrics(): string;
}

const ALLOWED_METHODS = 'GET, HEAD';

export function createHttpHandler(endpoints: HttpEndpoints) {
  const routes: Record<string, () => { type: string; body: string }> = {
    '/healthz': () => ({ type: 'text/plain; charset=utf-8', body: 'ok' }),
    '/status': () => ({ type: 'application/json; charset=utf-8', body: JSON.stringify(endpoints.status()) }),
    '/metrics': () => ({ type: 'text/plain; version=0.0.4; charset=utf-8', body: endpoints.metrics() }),
  };

  return function handleHttp(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?', 1)[0]!;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) {
      reply(response, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /status, /metrics, or a WebSocket upgrade\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', ALLOWED_METHODS);
      reply(response, 405, 'text/plain; charset=utf-8', `method ${request.method} not allowed: use GET\n`);
      return;
    }
    let page: { type: string; body: string };
    try {
      page = route();
    } catch (error) {
      reply(response, 500, 'text/plain; charset=utf-8', `internal error: ${(error as Error).message}\n`);
      return;
    }
    reply(response, 200, page.type, request.method === 'HEAD' ? null : page.body, Buffer.byteLength(page.body));
  };
}

function reply(response: ServerResponse, status: number, type: string, body: string | null, length?: number): void {
  response.statusCode = status;
  response.setHeader('Content-Type', type);
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Content-Length', String(length ?? Buffer.byteLength(body ?? '')));
  response.end(body ?? undefined);
}
