/**
 * Who may talk to the inspector. Its controls kill processes and, with no RING_TOKEN (the default
 * of `npm start`), used to take orders from any web page: a cross-site form (text/plain) or a
 * page on a hostile name that resolves to 127.0.0.1 (DNS rebinding). Here: those are refused and
 * nothing happens to the ring; the inspector's own page (same origin) still works; the token,
 * when set, guards what shows the ring too; `addNode` stops at its cap.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningInspector } from '../inspector/server/index.js';
import { closeAll, inspectorWith, recordingControl, upgradeStatus as upgrade } from './inspectorKit.js';

afterEach(closeAll);

interface Reply {
  status: number;
  body: string;
}

/** A request with exactly these headers (fetch would not let a test set Host or Origin). */
function send(inspector: RunningInspector, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port: inspector.port, method: options.method ?? 'GET', path: options.path ?? '/', headers: { Host: `127.0.0.1:${inspector.port}`, ...options.headers } },
      (response) => {
        let body = '';
        response.on('data', (chunk) => (body += String(chunk)));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

function control(inspector: RunningInspector, body: unknown, headers: Record<string, string>): Promise<Reply> {
  return send(inspector, { method: 'POST', path: '/api/control', headers, body: JSON.stringify(body) });
}

describe('inspector: cross-site requests', () => {
  it('refuses a control from another origin (403), whatever its content type, and the ring is untouched', async () => {
    const ring = recordingControl();
    const inspector = await inspectorWith({ control: ring });
    for (const contentType of ['text/plain', 'application/json', 'application/x-www-form-urlencoded']) {
      for (const body of [{ action: 'crash', id: 'n1' }, { action: 'addNode' }, { action: 'restartRelay' }]) {
        const reply = await control(inspector, body, { Origin: 'http://evil.example', 'Content-Type': contentType });
        expect(reply.status).toBe(403);
        expect(JSON.parse(reply.body).error).toContain('cross-origin');
      }
    }
    // "null" (sandboxed frames, file: pages) and the right host on another port are other origins too.
    expect((await control(inspector, { action: 'addNode' }, { Origin: 'null', 'Content-Type': 'application/json' })).status).toBe(403);
    expect((await control(inspector, { action: 'addNode' }, { Origin: 'http://127.0.0.1:1', 'Content-Type': 'application/json' })).status).toBe(403);
    expect(ring.calls).toEqual([]);
  });

  it('refuses a control body that is not application/json (415), even without an Origin', async () => {
    const ring = recordingControl();
    const inspector = await inspectorWith({ control: ring });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const reply = await control(inspector, { action: 'crash', id: 'n1' }, { 'Content-Type': contentType });
      expect(reply.status).toBe(415);
    }
    expect((await send(inspector, { method: 'POST', path: '/api/control', body: '{"action":"addNode"}' })).status).toBe(415);
    expect(ring.calls).toEqual([]);
  });

  it('refuses requests whose Host does not name the inspector (DNS rebinding): page, state, controls and WebSockets', async () => {
    const ring = recordingControl();
    const inspector = await inspectorWith({ control: ring });
    const evil = { Host: `evil.example:${inspector.port}`, Origin: `http://evil.example:${inspector.port}` };
    expect((await control(inspector, { action: 'crash', id: 'n1' }, { ...evil, 'Content-Type': 'application/json' })).status).toBe(403);
    expect((await send(inspector, { path: '/api/state', headers: { Host: evil.Host } })).status).toBe(403);
    expect((await send(inspector, { path: '/', headers: { Host: evil.Host } })).status).toBe(403);
    // A loopback name on another port is not this inspector either.
    expect((await send(inspector, { path: '/api/state', headers: { Host: 'localhost:1' } })).status).toBe(403);
    const base = `ws://127.0.0.1:${inspector.port}`;
    for (const path of ['/events', '/stately-events', '/inspect']) {
      expect(await upgrade(`${base}${path}`, evil)).toBe(403);
      expect(await upgrade(`${base}${path}`, { Origin: 'http://evil.example' })).toBe(403);
    }
    expect(ring.calls).toEqual([]);
    expect((await send(inspector, { path: '/healthz', headers: { Host: evil.Host } })).status).toBe(200);
  });

  it("serves its own page's requests: same origin under each loopback name", async () => {
    const ring = recordingControl();
    const inspector = await inspectorWith({ control: ring });
    for (const name of ['127.0.0.1', 'localhost']) {
      const own = { Host: `${name}:${inspector.port}`, Origin: `http://${name}:${inspector.port}` };
      expect((await control(inspector, { action: 'crash', id: 'n1' }, { ...own, 'Content-Type': 'application/json; charset=utf-8' })).status).toBe(200);
      expect((await send(inspector, { path: '/api/state', headers: own })).status).toBe(200);
      expect(await upgrade(`ws://127.0.0.1:${inspector.port}/events`, own)).toBe(101);
    }
    // Processes stream without an Origin, and may name the inspector as they know it (a Compose service name).
    expect(await upgrade(`ws://127.0.0.1:${inspector.port}/inspect`, { Host: `inspector:${inspector.port}` })).toBe(101);
    expect(ring.calls).toEqual(['crash n1', 'crash n1']);
  });

  it('accepts the allow-listed names of a reverse proxy, also from an https page', async () => {
    const inspector = await inspectorWith({ allowedHosts: [{ hostname: 'ring.example.com', port: null }, { hostname: 'proxy', port: 8443 }] });
    expect((await send(inspector, { path: '/api/state', headers: { Host: 'ring.example.com', Origin: 'https://ring.example.com' } })).status).toBe(200);
    expect((await send(inspector, { path: '/api/state', headers: { Host: 'proxy:8443' } })).status).toBe(200);
    expect((await send(inspector, { path: '/api/state', headers: { Host: 'proxy:9999' } })).status).toBe(403);
    expect((await send(inspector, { path: '/api/state', headers: { Host: 'ring.example.com', Origin: 'https://evil.example' } })).status).toBe(403);
  });

});

describe('inspector: the admin token guards what shows the ring', () => {
  it('needs RING_TOKEN on /api/state, /api/stats, /events and /stately-events when it is set, as a Bearer header or ?token=', async () => {
    const inspector = await inspectorWith({ token: 's3cret' });
    for (const path of ['/api/state', '/api/stats']) {
      expect((await send(inspector, { path })).status).toBe(401);
      expect((await send(inspector, { path: `${path}?token=wrong` })).status).toBe(401);
      expect((await send(inspector, { path, headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await send(inspector, { path: `${path}?token=s3cret` })).status).toBe(200);
    }
    const base = `ws://127.0.0.1:${inspector.port}`;
    for (const path of ['/events', '/stately-events']) {
      expect(await upgrade(`${base}${path}`)).toBe(401);
      expect(await upgrade(`${base}${path}?token=s3cret`)).toBe(101);
      expect(await upgrade(`${base}${path}`, { Authorization: 'Bearer s3cret' })).toBe(101);
    }
    // The page itself holds no ring data: it loads, then asks for the token.
    expect((await send(inspector, { path: '/' })).status).toBe(200);
  });

  it('needs no token on those when none is set', async () => {
    const inspector = await inspectorWith();
    expect((await send(inspector, { path: '/api/state' })).status).toBe(200);
    expect(await upgrade(`ws://127.0.0.1:${inspector.port}/events`)).toBe(101);
  });
});

describe('inspector: addNode has a cap', () => {
  it('refuses addNode with 409 once the ring has the most nodes it may have, also when many arrive at once', async () => {
    const ring = recordingControl(1);
    const inspector = await inspectorWith({ control: ring, limits: { maxNodes: 4 } });
    const json = { 'Content-Type': 'application/json' };
    const replies = await Promise.all(Array.from({ length: 6 }, () => control(inspector, { action: 'addNode' }, json)));
    expect(replies.map((reply) => reply.status).sort()).toEqual([200, 200, 200, 409, 409, 409]);
    expect(ring.nodeCount()).toBe(4);
    expect(JSON.parse(replies.find((reply) => reply.status === 409)!.body).error).toContain('(4)');
  });

  it('defaults to 200 nodes, the most `up --nodes` starts', async () => {
    const ring = recordingControl(200);
    const inspector = await inspectorWith({ control: ring });
    expect((await control(inspector, { action: 'addNode' }, { 'Content-Type': 'application/json' })).status).toBe(409);
    expect(ring.calls).toEqual([]);
  });
});
