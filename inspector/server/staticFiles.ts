/**
 * Serves the page's built files (dist/inspector/web: index.html, app.js, app.css). Only files in
 * that folder, only GET/HEAD, never a path that climbs out of it.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Where the built page is: next to this module once built (dist/inspector/server -> ../web), or
 * dist/inspector/web when this module runs from source (tests, tsx).
 */
export function findWebRoot(): string | null {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, '..', 'web'), join(here, '..', '..', 'dist', 'inspector', 'web')];
  return candidates.find((dir) => existsSync(join(dir, 'app.js')) && existsSync(join(dir, 'index.html'))) ?? null;
}

export function serveStatic(root: string | null, request: IncomingMessage, response: ServerResponse, pathname: string): void {
  if (root === null) {
    response.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('The inspector page is not built: run "npm run build" (it bundles inspector/web into dist/inspector/web).\n');
    return;
  }
  let relative: string;
  try {
    relative = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
  } catch {
    // A malformed escape such as '/%' is the client's mistake, not the server's.
    response.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('bad percent-encoding in path\n');
    return;
  }
  const file = normalize(join(root, relative));
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep) || !TYPES[extname(file)] || !existsSync(file)) {
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('not found\n');
    return;
  }
  const body = readFileSync(file);
  response.writeHead(200, { 'Content-Type': TYPES[extname(file)]!, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
  response.end(request.method === 'HEAD' ? undefined : body);
}
