/**
 * A bridge to the Stately inspector, like @statelyai/inspect/server's, fed by the same ingest:
 * GET /stately is a page that embeds https://stately.ai/inspect and forwards to it, by
 * postMessage, every inspection message that arrives on /inspect (it reads them from the
 * /stately-events WebSocket). A page opened late first gets each live actor's registration
 * and latest snapshot, so it shows the whole ring, not only what happens next. With RING_TOKEN
 * set, open it as /stately?token=... (the page passes the token on to its WebSocket).
 */

export interface ReplayLimits {
  /** Actors (sessions) remembered per ingest connection; a node process has two or three. */
  sessionsPerConnection: number;
  /** Bytes of messages remembered per ingest connection (a node's registration is about 20 KB). */
  bytesPerConnection: number;
  /** Bytes remembered over all connections. */
  bytesTotal: number;
}

export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { sessionsPerConnection: 64, bytesPerConnection: 1 << 20, bytesTotal: 32 << 20 };

interface Session {
  actor?: string;
  snapshot?: string;
}

interface ConnectionReplay {
  sessions: Map<string, Session>;
  bytes: number;
}

/**
 * The latest registration and snapshot of each actor, per ingest connection, within limits: a
 * new actor beyond them is not remembered (it is still forwarded live), so a client that
 * registers actors without end cannot grow the inspector.
 */
export class StatelyReplay {
  private byConnection = new Map<string, ConnectionReplay>();
  private totalBytes = 0;

  constructor(private readonly limits: ReplayLimits = DEFAULT_REPLAY_LIMITS) {}

  /** Remembers the message; false when a limit kept it out (the caller counts and logs that). */
  record(connection: string, type: '@xstate.actor' | '@xstate.snapshot', sessionId: string, raw: string): boolean {
    let replay = this.byConnection.get(connection);
    if (!replay) {
      replay = { sessions: new Map(), bytes: 0 };
      this.byConnection.set(connection, replay);
    }
    const field = type === '@xstate.actor' ? 'actor' : 'snapshot';
    const existing = replay.sessions.get(sessionId);
    if (!existing && replay.sessions.size >= this.limits.sessionsPerConnection) return false;
    const entry = existing ?? {};
    const previous = entry[field]?.length ?? 0;
    const growth = raw.length - previous;
    if (replay.bytes + growth > this.limits.bytesPerConnection || this.totalBytes + growth > this.limits.bytesTotal) {
      // Replaying the older message would show a state the actor has left: forget it instead.
      if (previous > 0) {
        delete entry[field];
        this.account(replay, -previous);
      }
      return false;
    }
    entry[field] = raw;
    replay.sessions.set(sessionId, entry);
    this.account(replay, growth);
    return true;
  }

  forget(connection: string): void {
    const replay = this.byConnection.get(connection);
    if (!replay) return;
    this.totalBytes -= replay.bytes;
    this.byConnection.delete(connection);
  }

  /** Registrations first, then snapshots, so the receiver knows every actor before its state. */
  messages(): string[] {
    const entries = [...this.byConnection.values()].flatMap((replay) => [...replay.sessions.values()]);
    return [...entries.flatMap((entry) => (entry.actor ? [entry.actor] : [])), ...entries.flatMap((entry) => (entry.snapshot ? [entry.snapshot] : []))];
  }

  retained(): { sessions: number; bytes: number } {
    let sessions = 0;
    for (const replay of this.byConnection.values()) sessions += replay.sessions.size;
    return { sessions, bytes: this.totalBytes };
  }

  private account(replay: ConnectionReplay, delta: number): void {
    replay.bytes += delta;
    this.totalBytes += delta;
  }
}

export function statelyBridgePage(inspectorUrl = 'https://stately.ai/inspect'): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Ringleader in the Stately inspector</title>
  <style>
    html, body { height: 100%; margin: 0; font-family: system-ui, sans-serif; }
    #bar { padding: 4px 10px; font-size: 13px; background: #1f2430; color: #d8dee9; }
    iframe { width: 100%; height: calc(100% - 26px); border: 0; }
  </style>
</head>
<body>
  <div id="bar">Ringleader → Stately inspector. <span id="status">connecting…</span> (needs internet access to ${inspectorUrl})</div>
  <iframe id="inspector" src="${inspectorUrl}"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    const status = document.getElementById('status');
    const buffer = [];
    let connected = false;
    let count = 0;
    window.addEventListener('message', (event) => {
      if (event.data && event.data.type === '@statelyai.connected') {
        connected = true;
        for (const data of buffer.splice(0)) iframe.contentWindow.postMessage(data, '*');
      }
    });
    function open() {
      const token = new URLSearchParams(location.search).get('token');
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/stately-events' + (token ? '?token=' + encodeURIComponent(token) : ''));
      ws.onopen = () => { status.textContent = 'streaming'; };
      ws.onmessage = (event) => {
        const data = JSON.parse(event.data);
        count += 1;
        status.textContent = 'streaming, ' + count + ' events';
        if (connected) iframe.contentWindow.postMessage(data, '*');
        else { buffer.push(data); if (buffer.length > 5000) buffer.shift(); }
      };
      ws.onclose = () => { status.textContent = 'disconnected, retrying…'; setTimeout(open, 1000); };
    }
    open();
  </script>
</body>
</html>
`;
}
