/**
 * The inspector's picture of the ring, built only from what the system itself reports: the
 * inspection stream of every node and relay process (one ingest connection per process) and,
 * when the relay does not stream, its GET /status. No election logic here: the model records
 * what the machines did (frames they sent, states they entered) and derives the view from it.
 */
import { opensElection } from '../../machines/election.js';
import { parseClientFrame } from '../../machines/protocol.js';
import { recipients } from '../../machines/relayMachine.js';
import type {
  ElectionView,
  FrameView,
  LeaderView,
  LogEntry,
  NodeDisplayState,
  NodeEventView,
  NodeView,
  RelayView,
  RingState,
} from './messages.js';

/** A message in @statelyai/inspect's format, as a producer sends it (runtime/inspection.ts). */
export interface InspectionMessage {
  type: string;
  sessionId?: string;
  parentId?: string;
  sourceId?: string;
  name?: string;
  event?: { type?: unknown; [key: string]: unknown };
  snapshot?: { value?: unknown; context?: unknown; status?: unknown };
}

export interface RelayStatus {
  members: string[];
  leader: LeaderView | null;
}

export interface RingModelListener {
  frame(frame: FrameView): void;
  log(entry: LogEntry): void;
  /** Something in `state()` changed; the caller decides how often to look. */
  changed(): void;
}

const RECENT_EVENTS = 25;
const LOG_LIMIT = 500;
const ELECTION_LIMIT = 50;
/** How long a crashed or exited node stays on the page, greyed, before it is forgotten. */
export const GONE_TTL_MS = 60_000;
const UNSEEN_START = 'unknown (its start was not seen)';
const FRAME_TYPES = new Set(['election', 'newLeader', 'checkLeader', 'answerLeader']);
const LEAF_STATES = new Set(['disconnected', 'route', 'follower', 'checking', 'awaiting', 'electing', 'leader']);

interface NodeContextLike {
  id?: string | null;
  rank?: number;
  leader?: LeaderView | null;
  term?: number;
  members?: string[];
}

interface ProcessRecord {
  key: string;
  name: string;
  kind: 'node' | 'relay' | 'unknown';
  rootSession: string | null;
  id: string | null;
  statePath: string;
  context: NodeContextLike;
  /** Type of the last event the root machine received: why it did what it did next. */
  lastEvent: string;
  recent: NodeEventView[];
  gone: { at: number; how: 'crashed' | 'exited' } | null;
}

export class RingModel {
  private processes = new Map<string, ProcessRecord>();
  private relay: RelayView = { source: 'none', members: [], leader: null, connected: false };
  private relayKey: string | null = null;
  private elections = new Map<number, ElectionView>();
  private log: LogEntry[] = [];
  private frozen = new Set<string>();
  private crashing = new Set<string>();
  private seq = 0;

  constructor(
    private readonly listener: RingModelListener,
    private readonly now: () => number = Date.now,
  ) {}

  // ---- input: process connections ----

  connect(key: string, name: string): void {
    this.processes.set(key, {
      key,
      name,
      kind: 'unknown',
      rootSession: null,
      id: null,
      statePath: 'unknown',
      context: {},
      lastEvent: '',
      recent: [],
      gone: null,
    });
  }

  disconnect(key: string): void {
    const process = this.processes.get(key);
    if (!process) return;
    if (process.kind === 'relay' || key === this.relayKey) {
      this.processes.delete(key);
      if (this.relayKey === key) {
        this.relayKey = null;
        this.relay = { ...this.relay, connected: false };
        this.addLog('process', 'relay stopped streaming (exited or restarting)');
      }
      this.listener.changed();
      return;
    }
    if (process.kind !== 'node' || process.id === null) {
      this.processes.delete(key);
      this.listener.changed();
      return;
    }
    const how = this.crashing.delete(process.id) ? 'crashed' : 'exited';
    this.frozen.delete(process.id);
    process.gone = { at: this.now(), how };
    this.addLog('process', `${process.id} ${how === 'crashed' ? 'crashed (its process is gone)' : 'exited'}`, process.id);
    this.checkAgreement();
    this.listener.changed();
  }

  ingest(key: string, message: InspectionMessage): void {
    const process = this.processes.get(key);
    if (!process || process.gone) return;
    switch (message.type) {
      case '@xstate.actor':
        this.onActor(process, message);
        break;
      case '@xstate.event':
        this.onEvent(process, message);
        break;
      case '@xstate.snapshot':
        this.onSnapshot(process, message);
        break;
      default:
        break;
    }
  }

  // ---- input: relay /status (used when the relay does not stream its own machine) ----

  relayStatus(status: RelayStatus | null): void {
    if (this.relay.source === 'inspection' && this.relayKey !== null) return;
    if (status === null) {
      if (this.relay.connected && this.relay.source === 'status') {
        this.relay = { ...this.relay, connected: false };
        this.listener.changed();
      }
      return;
    }
    this.setMembers(status.members);
    this.relay = { source: 'status', members: status.members, leader: status.leader, connected: true };
    this.listener.changed();
  }

  // ---- input: what the inspector's controls did ----

  controlled(action: string, id: string | undefined): void {
    if (id === undefined) return;
    if (action === 'freeze') this.frozen.add(id);
    if (action === 'unfreeze') this.frozen.delete(id);
    if (action === 'crash') {
      this.crashing.add(id);
      this.frozen.delete(id);
    }
    this.listener.changed();
  }

  note(kind: LogEntry['kind'], text: string, node?: string): void {
    this.addLog(kind, text, node);
  }

  // ---- output ----

  recentLog(): LogEntry[] {
    return [...this.log];
  }

  state(): RingState {
    this.prune();
    const members = this.members();
    const memberSet = new Set(members);
    const nodes = [...this.processes.values()].filter((process) => process.kind === 'node').map((process) => this.nodeView(process, memberSet));
    const position = new Map(members.map((id, index) => [id, index]));
    nodes.sort((a, b) => (position.get(a.id ?? '') ?? Infinity) - (position.get(b.id ?? '') ?? Infinity));
    const elections = [...this.elections.values()].sort((a, b) => a.term - b.term);
    return { nodes, relay: { ...this.relay, members }, leader: this.agreedLeader(nodes), elections };
  }

  // ---- inspection events ----

  private onActor(process: ProcessRecord, message: InspectionMessage): void {
    if (message.parentId !== undefined || typeof message.sessionId !== 'string') return;
    process.rootSession = message.sessionId;
    if (message.name === 'relay') {
      process.kind = 'relay';
      this.relayKey = process.key;
      this.relay = { ...this.relay, source: 'inspection', connected: true };
      this.addLog('process', 'relay is streaming its machine');
    } else if (message.name === 'node') {
      process.kind = 'node';
    }
    if (message.snapshot) this.applySnapshot(process, message.snapshot, null);
    this.listener.changed();
  }

  private onEvent(process: ProcessRecord, message: InspectionMessage): void {
    const event = message.event;
    if (!event || typeof event.type !== 'string') return;
    if (message.sessionId === process.rootSession) {
      process.lastEvent = event.type;
      if (process.kind === 'node' && event.type === 'welcome' && typeof event.clientId === 'string') {
        this.adoptId(process, event.clientId);
      }
      return;
    }
    // A node hands every outgoing frame to its relay connection as `{type: 'send', frame}`.
    if (process.kind === 'node' && event.type === 'send' && message.sourceId === process.rootSession) {
      const frame = event.frame as Record<string, unknown> | undefined;
      if (frame && typeof frame.type === 'string' && FRAME_TYPES.has(frame.type)) this.onFrameSent(process, frame);
    }
  }

  private onSnapshot(process: ProcessRecord, message: InspectionMessage): void {
    if (message.sessionId !== process.rootSession || !message.snapshot) return;
    const eventType = typeof message.event?.type === 'string' ? message.event.type : '';
    this.applySnapshot(process, message.snapshot, eventType ? (message.event as { type: string }) : null);
    this.listener.changed();
  }

  private applySnapshot(process: ProcessRecord, snapshot: NonNullable<InspectionMessage['snapshot']>, event: { type: string; [key: string]: unknown } | null): void {
    const context = (snapshot.context ?? {}) as NodeContextLike & { members?: string[]; leader?: LeaderView | null };
    if (process.kind === 'relay') {
      const members = Array.isArray(context.members) ? context.members.filter((id): id is string => typeof id === 'string') : [];
      this.setMembers(members);
      this.relay = { source: 'inspection', members, leader: context.leader ?? null, connected: true };
      return;
    }
    const previousPath = process.statePath;
    const previousLeader = process.context.leader ?? null;
    process.statePath = pathOf(snapshot.value);
    process.context = context;
    if (typeof context.id === 'string') this.adoptId(process, context.id);
    if (process.kind !== 'node' || process.id === null) return;
    const id = process.id;

    if (event && event.type !== 'xstate.init') {
      process.recent.push({ at: this.now(), event: describeEventType(event.type), summary: summarize(event), state: process.statePath });
      if (process.recent.length > RECENT_EVENTS) process.recent.shift();
    }
    const before = leafOf(previousPath);
    const after = leafOf(process.statePath);
    if (before !== after && previousPath !== 'unknown') {
      const routine = (before === 'follower' && after === 'checking') || (before === 'checking' && after === 'follower');
      this.addLog(routine ? 'heartbeat' : 'state', `${id}: ${before} → ${after}${event ? ` on ${describeEventType(event.type)}` : ''}`, id);
    }
    const leader = context.leader ?? null;
    if (leader && leader.id === id && (previousLeader?.id !== id || previousLeader.term !== leader.term)) {
      this.addLog('leader', `${id} is leader (rank ${leader.rank}, term ${leader.term})`, id);
    }
    if (leader?.term !== previousLeader?.term || leader?.id !== previousLeader?.id) this.checkAgreement();
  }

  private adoptId(process: ProcessRecord, id: string): void {
    if (process.id === id) return;
    process.id = id;
    // A process that takes over an id (a restart that resumed it) replaces the ghost of the old one.
    for (const [key, other] of this.processes) {
      if (key !== process.key && other.id === id && other.gone) this.processes.delete(key);
    }
  }

  private onFrameSent(process: ProcessRecord, frame: Record<string, unknown>): void {
    const kind = frame.type as FrameView['kind'];
    const from = process.id ?? (kind === 'election' && typeof frame.initiator === 'string' ? frame.initiator : null);
    if (from === null) return;
    const target = typeof frame.to === 'string' ? frame.to : 'next';
    const members = this.members();
    const routingMembers = members.includes(from) ? members : (process.context.members ?? members);
    const to = recipients({ members: routingMembers, bypassed: [] }, from, target) ?? [];
    const term = typeof frame.term === 'number' ? frame.term : null;
    const view: FrameView = { seq: ++this.seq, at: this.now(), kind, from, to, target, term };
    if (kind === 'election' && Array.isArray(frame.eligible)) view.eligible = frame.eligible as FrameView['eligible'];
    if (kind === 'newLeader' && typeof frame.leaderId === 'string') view.leaderId = frame.leaderId;
    this.listener.frame(view);

    if (kind === 'election' && term !== null) this.onElectionFrame(process, from, frame, term);
    if (kind === 'newLeader' && term !== null) this.onNewLeaderFrame(frame, term, target);
    const heartbeat = kind === 'checkLeader' || kind === 'answerLeader';
    this.addLog(heartbeat ? 'heartbeat' : 'frame', `${from} → ${to.join(', ') || '(nobody)'}: ${describeFrame(frame)}`, from);
  }

  private onElectionFrame(process: ProcessRecord, from: string, frame: Record<string, unknown>, term: number): void {
    const eligible = (Array.isArray(frame.eligible) ? frame.eligible : []) as ElectionView['eligible'];
    const initiator = typeof frame.initiator === 'string' ? frame.initiator : from;
    // The stream carries loose records: only a well-formed election frame can open a round.
    const parsed = parseClientFrame(frame);
    const starts = parsed.ok && parsed.frame.type === 'election' && opensElection(from, parsed.frame);
    let election = this.elections.get(term);
    if (!election) {
      // Streams from different processes race: a forwarded lap can arrive before its start.
      election = {
        term,
        initiators: [initiator],
        reason: UNSEEN_START,
        startedAt: this.now(),
        frames: 0,
        eligible,
        winner: null,
        completedAt: null,
        agreedAt: null,
      };
      this.elections.set(term, election);
      while (this.elections.size > ELECTION_LIMIT) this.elections.delete(Math.min(...this.elections.keys()));
    }
    if (starts) {
      const reason = describeReason(process.lastEvent);
      if (election.reason === UNSEEN_START) {
        election.reason = reason;
        if (!election.initiators.includes(initiator)) election.initiators.unshift(initiator);
        this.addLog('election', `election for term ${term} started by ${initiator} (${reason})`, initiator);
      } else if (!election.initiators.includes(initiator)) {
        election.initiators.push(initiator);
        this.addLog('election', `${initiator} also started a lap for term ${term} (${reason})`, initiator);
      }
    }
    election.frames += 1;
    // The longest list is the furthest the lap got; a late-arriving earlier frame must not shrink it.
    if (eligible.length >= election.eligible.length) election.eligible = eligible;
  }

  private onNewLeaderFrame(frame: Record<string, unknown>, term: number, target: string): void {
    const election = this.elections.get(term);
    if (!election) return;
    election.frames += 1;
    if (election.winner !== null || target !== 'all') return;
    election.winner = { id: String(frame.leaderId), rank: Number(frame.rank), term };
    election.completedAt = this.now();
    const took = election.completedAt - election.startedAt;
    const among = election.eligible.map((entry) => `${entry.id}:${entry.rank}`).join(' ');
    this.addLog('election', `term ${term}: ${election.winner.id} wins with rank ${election.winner.rank} among [${among}] after ${election.frames} frames, ${took} ms`, election.winner.id);
    this.checkAgreement();
  }

  /** Marks elections whose winner every live member now names. */
  private checkAgreement(): void {
    const members = new Set(this.members());
    const live = [...this.processes.values()].filter(
      (process) => process.kind === 'node' && !process.gone && process.id !== null && !this.frozen.has(process.id) && members.has(process.id),
    );
    if (live.length === 0) return;
    for (const election of this.elections.values()) {
      if (election.winner === null || election.agreedAt !== null) continue;
      const winner = election.winner;
      const agreed = live.every((process) => process.context.leader?.id === winner.id && process.context.leader.term === winner.term);
      if (!agreed) continue;
      election.agreedAt = this.now();
      this.addLog('election', `all ${live.length} live nodes agree: ${winner.id} leads term ${winner.term} (${election.agreedAt - election.startedAt} ms after the election started)`, winner.id);
    }
  }

  // ---- membership ----

  private members(): string[] {
    if (this.relay.source !== 'none') return this.relay.members;
    // Without the relay's view, trust the node with the highest term.
    let best: ProcessRecord | null = null;
    for (const process of this.processes.values()) {
      if (process.kind !== 'node' || process.gone || !process.statePath.startsWith('online')) continue;
      if (best === null || (process.context.term ?? 0) > (best.context.term ?? 0)) best = process;
    }
    return best?.context.members ?? [];
  }

  private setMembers(members: string[]): void {
    const before = this.relay.source === 'none' ? null : this.relay.members;
    if (before === null) return;
    const now = new Set(members);
    const had = new Set(before);
    for (const id of members) if (!had.has(id)) this.addLog('membership', `${id} joined the ring (${members.length} members)`, id);
    for (const id of before) if (!now.has(id)) this.addLog('membership', `${id} left the ring (${members.length} members)`, id);
  }

  // ---- views ----

  private nodeView(process: ProcessRecord, members: Set<string>): NodeView {
    const leaf = leafOf(process.statePath);
    let state: NodeDisplayState = LEAF_STATES.has(leaf) ? (leaf as NodeDisplayState) : 'unknown';
    if (process.id !== null && this.frozen.has(process.id)) state = 'frozen';
    if (process.gone) state = process.gone.how;
    return {
      key: process.key,
      id: process.id,
      name: process.name,
      rank: typeof process.context.rank === 'number' ? process.context.rank : null,
      state,
      statePath: process.statePath,
      leader: process.context.leader ?? null,
      term: process.context.term ?? 0,
      member: process.id !== null && members.has(process.id) && !process.gone,
      recent: [...process.recent],
    };
  }

  private agreedLeader(nodes: NodeView[]): LeaderView | null {
    const votes = new Map<string, { leader: LeaderView; count: number }>();
    for (const node of nodes) {
      if (!node.member || node.state === 'frozen' || node.leader === null) continue;
      const key = `${node.leader.id}@${node.leader.term}`;
      const entry = votes.get(key) ?? { leader: node.leader, count: 0 };
      entry.count += 1;
      votes.set(key, entry);
    }
    let best: { leader: LeaderView; count: number } | null = null;
    for (const entry of votes.values()) {
      if (best === null || entry.count > best.count || (entry.count === best.count && entry.leader.term > best.leader.term)) best = entry;
    }
    return best?.leader ?? this.relay.leader;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, process] of this.processes) {
      if (process.gone && now - process.gone.at > GONE_TTL_MS) this.processes.delete(key);
    }
  }

  private addLog(kind: LogEntry['kind'], text: string, node?: string): void {
    const entry: LogEntry = { seq: ++this.seq, at: this.now(), kind, text, ...(node === undefined ? {} : { node }) };
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT) this.log.shift();
    this.listener.log(entry);
  }
}

/** "online.follower" from `{ online: 'follower' }`. */
export function pathOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key, child] = Object.entries(value)[0] ?? [];
    if (key === undefined) return 'unknown';
    const rest = pathOf(child);
    return rest === 'unknown' || rest === '' ? key : `${key}.${rest}`;
  }
  return 'unknown';
}

function leafOf(path: string): string {
  return path.split('.').pop() ?? path;
}

/** XState's delayed-event names are long; the page shows which timer fired. */
function describeEventType(type: string): string {
  const timer = /^xstate\.after\.([^.]+)\./.exec(type);
  return timer ? `timer ${timer[1]}` : type;
}

function describeReason(lastEvent: string): string {
  if (lastEvent === 'ring') return 'the leader left the ring';
  if (lastEvent === 'startElection') return 'requested';
  if (lastEvent === 'welcome') return 'alone in the ring';
  if (lastEvent === 'resign') return 'the leader resigned';
  if (/leaderTimeout/.test(lastEvent)) return 'leader did not answer in time';
  if (/electionTimeout/.test(lastEvent)) return 'previous lap timed out';
  if (/backupTimeout/.test(lastEvent)) return 'no leader appeared';
  return lastEvent ? describeEventType(lastEvent) : 'unknown';
}

function summarize(event: { type: string; [key: string]: unknown }): string {
  if (FRAME_TYPES.has(event.type)) return describeFrame(event);
  if (event.type === 'welcome') return `id ${String(event.clientId)}, ${(event.members as unknown[] | undefined)?.length ?? 0} members`;
  if (event.type === 'ring') return event.joined ? `${String(event.joined)} joined` : event.left ? `${String(event.left)} left` : 'ring changed';
  if (event.type === 'error') return `${String(event.code)}: ${String(event.detail)}`;
  return '';
}

function describeFrame(frame: Record<string, unknown>): string {
  switch (frame.type) {
    case 'election': {
      const eligible = Array.isArray(frame.eligible) ? (frame.eligible as { id: string; rank: number }[]).map((entry) => `${entry.id}:${entry.rank}`).join(' ') : '';
      return `election term ${String(frame.term)} by ${String(frame.initiator)} [${eligible}]`;
    }
    case 'newLeader':
      return `newLeader ${String(frame.leaderId)} (rank ${String(frame.rank)}, term ${String(frame.term)})`;
    case 'checkLeader':
      return `checkLeader #${String(frame.nonce)}`;
    case 'answerLeader':
      return `answerLeader #${String(frame.nonce)} (term ${String(frame.term)})`;
    default:
      return String(frame.type);
  }
}
