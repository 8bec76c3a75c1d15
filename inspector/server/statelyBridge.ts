/**
 * A bridge to the Stately inspector, like @statelyai/inspect/server's, fed by the same ingest:
 * GET /stately is a page that embeds https://stately.ai/inspect and forwards to it, by
 * postMessage, every inspection message that arrives on /inspect (it reads them from the
 * /stately-events WebSocket). A page opened late first gets each live actor's registration
 * and latest snapshot, so it shows the whole ring, not only what happens next.
 */

/** The latest registration and snapshot of each actor, per ingest connection. */
export class StatelyReplay {
  private byConnection = new Map<string, Map<string, { actor?: string; snapshot?: string }>>();

  record(connection: string, type: string, sessionId: string | undefined, raw: string): void {
    if (sessionId === undefined || (type !== '@xstate.actor' && type !== '@xstate.snapshot')) return;
    let sessions = this.byConnection.get(connection);
    if (!sessions) {
      sessions = new Map();
      this.byConnection.set(connection, sessions);
    }
    const entry = sessions.get(sessionId) ?? {};
    if (type === '@xstate.actor') entry.actor = raw;
    else entry.snapshot = raw;
    sessions.set(sessionId, entry);
  }

  forget(connection: string): void {
    this.byConnection.delete(connection);
  }

  /** Registrations first, then snapshots, so the receiver knows every actor before its state. */
  messages(): string[] {
    const entries = [...this.byConnection.values()].flatMap((sessions) => [...sessions.values()]);
    return [...entries.flatMap((entry) => (entry.actor ? [entry.actor] : [])), ...entries.flatMap((entry) => (entry.snapshot ? [entry.snapshot] : []))];
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
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/stately-events');
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
