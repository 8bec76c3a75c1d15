/**
 * The inspector's picture of the ring, built only from what the system itself reports: the
 * inspection stream of every node and relay process (one ingest connection per process) and,
 * when the relay does not stream, its GET /status. No election logic here: the model records
 * what the machines did (frames they sent, states they entered) and derives the view from it.
 */
import { opensElection } from '../../machines/election.js';
import type { ClientFrame, ElectionFrame, Frame, NewLeaderFrame } from '../../machines/protocol.js';
import { recipients } from '../../machines/relayMachine.js';
import type { ContextFacts, IngestMessage, InspectedEvent, SnapshotFacts } from './ingest.js';
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
/**
 * At most this many crashed or exited nodes are remembered (the oldest is forgotten first): a
 * client that connects and disconnects in a loop must not grow the model for a minute each time.
 */
export const GONE_LIMIT = 200;
const UNSEEN_START = 'unknown (its start was not seen)';
const LEAF_STATES = new Set(['disconnected', 'route', 'follower', 'checking', 'awaiting', 'electing', 'leader']);

interface ProcessRecord {
  key: string;
  name: string;
  kind: 'node' | 'relay' | 'unknown';
  rootSession: string | null;
  id: string | null;
  statePath: string;
  context: ContextFacts;
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
  /** Ids crashed from the page, and when: the next disconnect of that id is a crash, not an exit. */
  private crashing = new Map<string, number>();
  private seq = 0;

  constructor(
    private readonly listener: RingModelListener,
    private readonly now: () => number = Date.now,
    private readonly goneLimit: number = GONE_LIMIT,
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
    this.forgetOldestGone();
    this.addLog('process', `${process.id} ${how === 'crashed' ? 'crashed (its process is gone)' : 'exited'}`, process.id);
    this.checkAgreement();
    this.listener.changed();
  }

  /** One inspection message, already checked by `parseInspectionMessage` (ingest.ts). */
  ingest(key: string, message: IngestMessage): void {
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

  /** Called before the control runs: the process may disconnect before the control returns. */
  controlled(action: string, id: string | undefined): void {
    if (id === undefined) return;
    if (action === 'freeze') this.frozen.add(id);
    if (action === 'unfreeze') this.frozen.delete(id);
    if (action === 'crash') {
      this.crashing.set(id, this.now());
      this.frozen.delete(id);
    }
    this.listener.changed();
  }

  /** The control failed: what `controlled` assumed did not happen. */
  controlFailed(action: string, id: string | undefined): void {
    if (id === undefined) return;
    if (action === 'freeze') this.frozen.delete(id);
    if (action === 'crash') this.crashing.delete(id);
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
    const streaming = [...this.processes.values()].filter((process) => process.kind === 'node');
    const nodes = streaming.map((process) => this.nodeView(process, memberSet));
    // Members the relay lists whose machines do not stream here (e.g. Compose without INSPECT_URL).
    const seen = new Set(streaming.map((process) => process.id));
    for (const id of members) if (!seen.has(id)) nodes.push(memberOnlyView(id, this.relay.leader));
    inRingOrder(nodes, members);
    const elections = [...this.elections.values()].sort((a, b) => a.term - b.term);
    return { nodes, relay: { ...this.relay, members }, leader: this.agreedLeader(nodes), elections };
  }

  /** What the model holds right now, for /api/stats: each count is bounded. */
  retained(): { processes: number; gone: number; elections: number; log: number; frozen: number; crashing: number } {
    let gone = 0;
    for (const process of this.processes.values()) if (process.gone) gone += 1;
    return { processes: this.processes.size, gone, elections: this.elections.size, log: this.log.length, frozen: this.frozen.size, crashing: this.crashing.size };
  }

  // ---- inspection events ----

  private onActor(process: ProcessRecord, message: Extract<IngestMessage, { type: '@xstate.actor' }>): void {
    if (message.parentId !== null) return;
    // A relay streams one machine per ring; the default ring's is its first (made at start-up).
    // The others' snapshots must not stand in for the default ring's membership.
    if (message.name === 'relay' && process.kind === 'relay' && process.rootSession !== null) return;
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

  private onEvent(process: ProcessRecord, message: Extract<IngestMessage, { type: '@xstate.event' }>): void {
    const event = message.event;
    if (message.sessionId === process.rootSession) {
      process.lastEvent = event.type;
      if (process.kind === 'node' && event.kind === 'frame' && event.frame.type === 'welcome') this.adoptId(process, event.frame.clientId);
      return;
    }
    // A node hands every outgoing frame to its relay connection as `{type: 'send', frame}`.
    if (process.kind === 'node' && event.kind === 'send' && message.sourceId === process.rootSession) this.onFrameSent(process, event.frame);
  }

  private onSnapshot(process: ProcessRecord, message: Extract<IngestMessage, { type: '@xstate.snapshot' }>): void {
    if (message.sessionId !== process.rootSession) return;
    this.applySnapshot(process, message.snapshot, message.event);
    this.listener.changed();
  }

  private applySnapshot(process: ProcessRecord, snapshot: SnapshotFacts, event: InspectedEvent | null): void {
    const context = snapshot.context;
    if (process.kind === 'relay') {
      const members = context.members ?? [];
      this.setMembers(members);
      this.relay = { source: 'inspection', members, leader: context.leader ?? null, connected: true };
      return;
    }
    const previousPath = process.statePath;
    const previousLeader = process.context.leader ?? null;
    process.statePath = snapshot.statePath;
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

  private onFrameSent(process: ProcessRecord, frame: ClientFrame): void {
    const kind = frame.type;
    const from = process.id ?? (frame.type === 'election' ? frame.initiator : null);
    if (from === null) return;
    const target = frame.to;
    const members = this.members();
    const routingMembers = members.includes(from) ? members : (process.context.members ?? members);
    const to = recipients({ members: routingMembers, bypassed: [] }, from, target) ?? [];
    const term = frame.type === 'checkLeader' ? null : frame.term;
    const view: FrameView = { seq: ++this.seq, at: this.now(), kind, from, to, target, term };
    if (frame.type === 'election') view.eligible = frame.eligible;
    if (frame.type === 'newLeader') view.leaderId = frame.leaderId;
    this.listener.frame(view);

    if (frame.type === 'election') this.onElectionFrame(process, from, frame);
    if (frame.type === 'newLeader') this.onNewLeaderFrame(frame);
    const heartbeat = kind === 'checkLeader' || kind === 'answerLeader';
    this.addLog(heartbeat ? 'heartbeat' : 'frame', `${from} → ${to.join(', ') || '(nobody)'}: ${describeFrame(frame)}`, from);
  }

  private onElectionFrame(process: ProcessRecord, from: string, frame: ElectionFrame): void {
    const { term, eligible, initiator } = frame;
    const starts = opensElection(from, frame);
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

  private onNewLeaderFrame(frame: NewLeaderFrame): void {
    const { term } = frame;
    const election = this.elections.get(term);
    if (!election) return;
    election.frames += 1;
    if (election.winner !== null || frame.to !== 'all') return;
    election.winner = { id: frame.leaderId, rank: frame.rank, term };
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
    // A crash whose process never streamed here leaves no disconnect to consume its mark.
    for (const [id, at] of this.crashing) if (now - at > GONE_TTL_MS) this.crashing.delete(id);
    // Nor does a frozen node that does not stream, once the relay has dropped it.
    const members = new Set(this.members());
    const live = new Set([...this.processes.values()].filter((process) => !process.gone).map((process) => process.id));
    for (const id of this.frozen) if (!live.has(id) && !members.has(id)) this.frozen.delete(id);
  }

  private forgetOldestGone(): void {
    const gone = [...this.processes.values()].filter((process) => process.gone !== null);
    if (gone.length <= this.goneLimit) return;
    gone.sort((a, b) => a.gone!.at - b.gone!.at);
    for (const process of gone.slice(0, gone.length - this.goneLimit)) this.processes.delete(process.key);
  }

  private addLog(kind: LogEntry['kind'], text: string, node?: string): void {
    const entry: LogEntry = { seq: ++this.seq, at: this.now(), kind, text, ...(node === undefined ? {} : { node }) };
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT) this.log.shift();
    this.listener.log(entry);
  }
}

/** A member known only from the relay: its id, and its rank and term when the relay names it leader. */
export function memberOnlyView(id: string, relayLeader: LeaderView | null): NodeView {
  const leader = relayLeader?.id === id ? relayLeader : null;
  return { key: `member:${id}`, id, name: id, rank: leader?.rank ?? null, state: 'member', statePath: 'unknown', leader: null, term: leader?.term ?? null, member: true, recent: [] };
}

/** Sorts nodes in place by their place in `members` (ring order); nodes outside it go last. */
function inRingOrder(nodes: NodeView[], members: string[]): void {
  const position = new Map(members.map((id, index) => [id, index]));
  nodes.sort((a, b) => (position.get(a.id ?? '') ?? Infinity) - (position.get(b.id ?? '') ?? Infinity));
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

function summarize(event: InspectedEvent): string {
  if (event.kind === 'other') return event.detail ?? '';
  const frame: Frame = event.frame;
  switch (frame.type) {
    case 'welcome':
      return `id ${frame.clientId}, ${frame.members.length} members`;
    case 'ring':
      return frame.joined !== undefined ? `${frame.joined} joined` : `${frame.left} left`;
    case 'error':
      return `${frame.code}: ${frame.detail}`;
    default:
      return describeFrame(frame);
  }
}

function describeFrame(frame: ClientFrame): string {
  switch (frame.type) {
    case 'election':
      return `election term ${frame.term} by ${frame.initiator} [${frame.eligible.map((entry) => `${entry.id}:${entry.rank}`).join(' ')}]`;
    case 'newLeader':
      return `newLeader ${frame.leaderId} (rank ${frame.rank}, term ${frame.term})`;
    case 'checkLeader':
      return `checkLeader #${frame.nonce}`;
    case 'answerLeader':
      return `answerLeader #${frame.nonce} (term ${frame.term})`;
  }
}
