/**
 * The inspector page: one WebSocket to /events brings the ring's state, its frames and its log
 * (inspector/server/messages.ts); buttons POST to /api/control. While paused, messages wait in
 * a queue and are applied on resume, so the picture never jumps ahead of the animation. With
 * RING_TOKEN set on the server, every request carries the admin token (from the field, the
 * `?token=` of the page's address, or localStorage): the WebSocket as `?token=`, the rest as
 * `Authorization: Bearer`. When the relay serves several rings, a picker chooses the one whose
 * membership and leader are shown (`?ring=` in the page's address, and on its requests).
 */
import { nodeMachine } from '../../machines/nodeMachine.js';
import type { ControlAction, ElectionView, LogEntry, NodeView, RingState, RingSummaryView, ServerMessage } from '../server/messages.js';
import { LEGEND_STATES, STATE_COLORS } from './colors.js';
import { byId, clock, el, setAttributes, setText } from './dom.js';
import { RingView } from './ringView.js';
import { StatechartPanel } from './statechart.js';

const LOG_ROWS = 300;
const QUEUE_LIMIT = 5000;

let state: RingState | null = null;
let selectedKey: string | null = null;
let controls = false;
let paused = false;
let queue: ServerMessage[] = [];
const log: LogEntry[] = [];
const DEFAULT_RING = 'default';
let pickedRing = new URLSearchParams(location.search).get('ring') || DEFAULT_RING;

const ring = new RingView(byId<SVGSVGElement>('ring'), (key) => select(key));
const chart = new StatechartPanel(nodeMachine, byId<SVGSVGElement>('chart'), byId('transitions'), byId('recent'));
const tokenInput = byId<HTMLInputElement>('token');
tokenInput.value = new URLSearchParams(location.search).get('token') ?? localStorage.getItem('ringleader.token') ?? '';
tokenInput.addEventListener('change', () => {
  localStorage.setItem('ringleader.token', tokenInput.value);
  reconnect();
});

byId('legend').replaceChildren(
  ...LEGEND_STATES.map((name) => {
    const item = el('span', name === 'member' ? { title: 'listed by the relay; its machine does not stream to this inspector' } : {});
    const dot = el('i');
    dot.style.background = STATE_COLORS[name];
    item.append(dot, document.createTextNode(name));
    return item;
  }),
);

// ---- the ring picker ----
const ringPicker = byId<HTMLSelectElement>('ring-picker');
ringPicker.addEventListener('change', () => {
  pickedRing = ringPicker.value;
  const params = new URLSearchParams(location.search);
  if (pickedRing === DEFAULT_RING) params.delete('ring');
  else params.set('ring', pickedRing);
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}`);
  state = null;
  reconnect();
});

/** Shown once the relay has more than one ring (or the page was opened on another one). */
function renderRings(rings: RingSummaryView[] | null): void {
  const list = rings ?? [];
  const options = list.map((ring) => el('option', { value: ring.name }, `${ring.name} · ${ring.members} members${ring.leader ? ` · leader ${ring.leader.id}` : ''}`));
  if (!list.some((ring) => ring.name === pickedRing)) options.push(el('option', { value: pickedRing }, `${pickedRing} · not on the relay`));
  ringPicker.replaceChildren(...options);
  ringPicker.value = pickedRing;
  byId('ring-box').hidden = list.length <= 1 && pickedRing === DEFAULT_RING;
}

// ---- playback ----
const pauseButton = byId<HTMLButtonElement>('pause');
pauseButton.addEventListener('click', () => {
  paused = !paused;
  ring.paused = paused;
  pauseButton.textContent = paused ? 'Resume' : 'Pause';
  if (!paused) {
    const waiting = queue;
    queue = [];
    for (const message of waiting) apply(message);
  }
});
const speed = byId<HTMLInputElement>('speed');
speed.addEventListener('input', () => {
  ring.speed = Number(speed.value);
  byId('speed-value').textContent = `${Number(speed.value).toFixed(1)}×`;
});
byId<HTMLInputElement>('show-heartbeats').addEventListener('change', () => renderLog());

// ---- the push channel ----
let socket: WebSocket | null = null;
let retry: number | undefined;

function authHeaders(): Record<string, string> {
  return tokenInput.value ? { Authorization: `Bearer ${tokenInput.value}` } : {};
}

/** A browser WebSocket cannot show why it was refused: ask over HTTP first whether the token is needed. */
async function connect(): Promise<void> {
  const status = byId('connection');
  const ringQuery = pickedRing === DEFAULT_RING ? '' : `ring=${encodeURIComponent(pickedRing)}`;
  const probe = await fetch(`/api/state${ringQuery ? `?${ringQuery}` : ''}`, { headers: authHeaders() }).catch(() => null);
  if (probe?.status === 401) {
    byId('token-box').hidden = false;
    status.textContent = tokenInput.value ? 'wrong admin token' : 'admin token needed';
    return; // a change of the token field calls reconnect()
  }
  const params = [tokenInput.value ? `token=${encodeURIComponent(tokenInput.value)}` : '', ringQuery].filter(Boolean).join('&');
  const query = params ? `?${params}` : '';
  const current = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/events${query}`);
  socket = current;
  current.addEventListener('open', () => {
    status.textContent = 'live';
    status.classList.add('online');
  });
  current.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as ServerMessage;
    if (paused && message.type !== 'hello') {
      queue.push(message);
      if (queue.length > QUEUE_LIMIT) queue.shift();
      byId('connection').textContent = `paused · ${queue.length} waiting`;
      return;
    }
    apply(message);
  });
  current.addEventListener('close', () => {
    if (socket !== current) return; // replaced by reconnect()
    status.textContent = 'offline, reconnecting…';
    status.classList.remove('online');
    retry = window.setTimeout(() => void connect(), 1000);
  });
}

function reconnect(): void {
  window.clearTimeout(retry);
  const old = socket;
  socket = null;
  old?.close();
  void connect();
}

function apply(message: ServerMessage): void {
  switch (message.type) {
    case 'hello':
      controls = message.controls;
      byId('ring-controls').hidden = !controls;
      byId('token-box').hidden = !message.tokenRequired;
      document.body.classList.toggle('no-controls', !controls);
      log.length = 0;
      log.push(...message.log);
      renderLog();
      break;
    case 'rings':
      renderRings(message.rings);
      break;
    case 'state':
      state = message.state;
      render();
      break;
    case 'frame':
      ring.launch(message.frame);
      break;
    case 'log':
      log.push(message.entry);
      if (log.length > LOG_ROWS * 3) log.splice(0, log.length - LOG_ROWS * 3);
      renderLog();
      break;
  }
  if (!paused) byId('connection').textContent = byId('connection').classList.contains('online') ? 'live' : 'offline';
}

// ---- rendering ----
function render(): void {
  if (!state) return;
  if (selectedKey === null || !state.nodes.some((node) => node.key === selectedKey)) {
    selectedKey = state.nodes.find((node) => node.state === 'leader')?.key ?? state.nodes[0]?.key ?? null;
  }
  const leader = state.leader;
  const summary = byId('summary');
  summary.replaceChildren();
  if (!byId('ring-box').hidden) summary.append(`Ring ${pickedRing} · `);
  if (leader) {
    summary.append('Leader ', el('strong', { 'data-testid': 'leader' }, leader.id), ` · rank ${leader.rank} · term ${leader.term} · `);
  } else {
    summary.append(el('strong', { 'data-testid': 'leader' }, 'no leader'), ' · ');
  }
  summary.append(`${state.relay.members.length} nodes in the ring`);
  ring.render(state, selectedKey);
  renderNodes(state.nodes);
  renderElections(state.elections);
  const selected = state.nodes.find((node) => node.key === selectedKey) ?? null;
  byId('panel-title').textContent = selected ? `${selected.id ?? '?'} · ${panelState(selected)}` : '—';
  // A crashed or exited node's machine is gone: nothing is active any more.
  chart.show(selected, selected !== null && !isGone(selected) && selected.state !== 'member');
}

function isGone(node: NodeView): boolean {
  return node.state === 'crashed' || node.state === 'exited';
}

/** The selected node's state as the panel's title says it. */
function panelState(node: NodeView): string {
  if (isGone(node)) return `${node.state} (its machine was in ${node.statePath})`;
  if (node.state === 'frozen') return `frozen (stopped in ${node.statePath})`;
  if (node.state === 'member') return 'in the ring (its machine does not stream here)';
  return node.statePath;
}

interface NodeRow {
  row: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
  chip: HTMLSpanElement;
  buttons: HTMLTableCellElement;
  buttonsFor: string;
}
const nodeRows = new Map<string, NodeRow>();

/** Rows are kept and updated in place: a button re-created on every heartbeat would swallow clicks. */
function renderNodes(nodes: NodeView[]): void {
  const body = byId('nodes').querySelector('tbody')!;
  const rows = nodes.map((node) => {
    let entry = nodeRows.get(node.key);
    if (!entry) {
      const row = el('tr');
      const cells = [el('td'), el('td'), el('td'), el('td'), el('td')];
      const chip = el('span', { class: 'chip', 'data-testid': 'state' });
      cells[2]!.append(chip);
      const buttons = el('td', { class: 'controls-col' });
      row.append(...cells, buttons);
      row.addEventListener('click', () => select(node.key));
      entry = { row, cells, chip, buttons, buttonsFor: '' };
      nodeRows.set(node.key, entry);
    }
    const gone = isGone(node);
    setAttributes(entry.row, { 'data-node': node.id ?? '', class: `${node.key === selectedKey ? 'selected' : ''}${gone ? ' gone' : ''}` });
    const texts = [`${node.id ?? '?'}${node.member || gone ? '' : ' (out of ring)'}`, node.rank === null ? '' : String(node.rank), '', node.leader ? node.leader.id : '—', node.term === null ? '' : String(node.term)];
    texts.forEach((text, index) => index !== 2 && setText(entry.cells[index]!, text));
    setText(entry.chip, node.state);
    entry.chip.style.background = STATE_COLORS[node.state];
    const frozen = node.state === 'frozen';
    const wanted = controls && node.id !== null && !gone ? `${node.id}:${frozen}` : '';
    if (wanted !== entry.buttonsFor) {
      entry.buttonsFor = wanted;
      entry.buttons.replaceChildren(
        ...(wanted && node.id !== null
          ? [button('Crash', 'crash', node.id), button(frozen ? 'Unfreeze' : 'Freeze', frozen ? 'unfreeze' : 'freeze', node.id), button('Start election', 'startElection', node.id)]
          : []),
      );
    }
    return entry.row;
  });
  const keys = new Set(nodes.map((node) => node.key));
  for (const key of nodeRows.keys()) if (!keys.has(key)) nodeRows.delete(key);
  const current = Array.from(body.children);
  if (current.length !== rows.length || rows.some((row, index) => current[index] !== row)) body.replaceChildren(...rows);
}

function renderElections(elections: ElectionView[]): void {
  const longest = Math.max(1, ...elections.map((election) => (election.agreedAt ?? election.completedAt ?? election.startedAt) - election.startedAt));
  const rows = elections
    .slice()
    .reverse()
    .map((election) => {
      const row = el('tr', { 'data-term': String(election.term) });
      const agreed = election.agreedAt === null ? null : election.agreedAt - election.startedAt;
      const agreedCell = el('td');
      const bar = el('span', { class: 'bar' });
      bar.style.width = `${Math.max(2, (80 * (agreed ?? 0)) / longest)}px`;
      agreedCell.append(bar, agreed === null ? (election.winner ? 'not yet' : 'in progress') : `${agreed} ms`);
      row.append(
        el('td', {}, String(election.term)),
        el('td', { 'data-testid': 'initiator' }, election.initiators.join(', ')),
        el('td', {}, election.reason),
        el('td', {}, clock(election.startedAt)),
        el('td', {}, String(election.frames)),
        el('td', { class: 'winner', 'data-testid': 'winner' }, election.winner ? `${election.winner.id} (rank ${election.winner.rank})` : '…'),
        agreedCell,
      );
      return row;
    });
  byId('elections').querySelector('tbody')!.replaceChildren(...rows);
}

function renderLog(): void {
  const showHeartbeats = byId<HTMLInputElement>('show-heartbeats').checked;
  const entries = log.filter((entry) => showHeartbeats || entry.kind !== 'heartbeat').slice(-LOG_ROWS).reverse();
  byId('log').replaceChildren(
    ...entries.map((entry) => {
      const item = el('li', { 'data-kind': entry.kind });
      item.append(el('time', {}, clock(entry.at)), el('span', { class: `kind k-${entry.kind}` }, entry.kind), document.createTextNode(entry.text));
      return item;
    }),
  );
}

function select(key: string): void {
  selectedKey = key;
  render();
}

// ---- controls ----
function button(label: string, action: ControlAction, id?: string): HTMLButtonElement {
  const node = el('button', { type: 'button', 'data-action': action, ...(id ? { 'data-id': id } : {}) }, label);
  node.addEventListener('click', (event) => {
    event.stopPropagation();
    void sendControl(action, id);
  });
  return node;
}

for (const node of Array.from(byId('ring-controls').querySelectorAll<HTMLButtonElement>('button[data-action]'))) {
  node.addEventListener('click', () => void sendControl(node.dataset.action as ControlAction));
}

async function sendControl(action: ControlAction, id?: string): Promise<void> {
  const status = byId('control-status');
  status.classList.remove('error');
  status.textContent = `${action}${id ? ` ${id}` : ''}…`;
  try {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', ...authHeaders() };
    const response = await fetch('/api/control', { method: 'POST', headers, body: JSON.stringify({ action, ...(id ? { id } : {}) }) });
    const body = (await response.json()) as { error?: string };
    if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
    status.textContent = `${action}${id ? ` ${id}` : ''}: done`;
  } catch (error) {
    status.classList.add('error');
    status.textContent = `${action} failed: ${(error as Error).message}`;
  }
}

void connect();
