/**
 * What the inspector server pushes to the page over `ws://host:port/events`: one JSON object per
 * WebSocket message. Types only, shared by the server and the page (inspector/web).
 */

/** A node's state as drawn: its statechart leaf, or what the inspector knows about its process. */
export type NodeDisplayState =
  | 'disconnected'
  | 'route'
  | 'follower'
  | 'checking'
  | 'awaiting'
  | 'electing'
  | 'leader'
  | 'frozen'
  | 'crashed'
  | 'exited'
  /** Listed by the relay, but its machine does not stream to this inspector. */
  | 'member'
  | 'unknown';

export interface LeaderView {
  id: string;
  rank: number;
  term: number;
}

export interface NodeEventView {
  at: number;
  /** The event the node's machine received (frame type, `relay.closed`, a timer, ...). */
  event: string;
  summary: string;
  /** The machine's state after the event, e.g. "online.follower". */
  state: string;
}

export interface NodeView {
  /** Stable key of the process connection; the id can be unknown before `welcome`. */
  key: string;
  /** The client id the relay gave it, or null before its first `welcome`. */
  id: string | null;
  name: string;
  rank: number | null;
  state: NodeDisplayState;
  /** Full statechart value path, e.g. "online.checking". */
  statePath: string;
  /** The leader this node believes in. */
  leader: LeaderView | null;
  /** Highest term it has seen; null for a member known only from the relay (its leader's term if it leads). */
  term: number | null;
  /** Whether the relay lists it as a ring member right now. */
  member: boolean;
  recent: NodeEventView[];
}

export interface ElectionView {
  term: number;
  /** Nodes that started a lap for this term, first one first. */
  initiators: string[];
  /** What made the first initiator start (the event its machine had just received). */
  reason: string;
  startedAt: number;
  /** Frames sent for this term: election laps and newLeader announcements. */
  frames: number;
  /** The latest eligible list seen on a lap. */
  eligible: { id: string; rank: number }[];
  winner: LeaderView | null;
  completedAt: number | null;
  /** When every live node named the winner, or null while some do not yet. */
  agreedAt: number | null;
}

export interface RelayView {
  /** Where the membership comes from: the relay's own inspection stream, its /status, or nothing yet. */
  source: 'inspection' | 'status' | 'none';
  members: string[];
  leader: LeaderView | null;
  connected: boolean;
}

export interface RingState {
  nodes: NodeView[];
  relay: RelayView;
  /** The leader a majority of live nodes name (the relay's last announced one if none). */
  leader: LeaderView | null;
  elections: ElectionView[];
}

export interface FrameView {
  seq: number;
  at: number;
  kind: 'election' | 'newLeader' | 'checkLeader' | 'answerLeader';
  from: string;
  to: string[];
  /** `next`, `all` or an id: what the sender asked for. */
  target: string;
  term: number | null;
  eligible?: { id: string; rank: number }[];
  leaderId?: string;
}

export interface LogEntry {
  seq: number;
  at: number;
  kind: 'frame' | 'heartbeat' | 'state' | 'leader' | 'election' | 'membership' | 'process' | 'control' | 'error';
  text: string;
  node?: string;
}

/** One ring the relay serves, for the page's ring picker (from the relay's GET /rings). */
export interface RingSummaryView {
  name: string;
  members: number;
  leader: LeaderView | null;
}

export type ControlAction = 'crash' | 'freeze' | 'unfreeze' | 'startElection' | 'addNode' | 'restartRelay';

export type ServerMessage =
  /** `ring`: the ring this page's membership view shows (picked with `/events?ring=`). */
  | { type: 'hello'; controls: boolean; tokenRequired: boolean; relayUrl: string; ring: string; log: LogEntry[] }
  /** The relay's rings, on connect and whenever the list changes; null while unknown (an older relay has no /rings). */
  | { type: 'rings'; rings: RingSummaryView[] | null }
  | { type: 'state'; state: RingState }
  | { type: 'frame'; frame: FrameView }
  | { type: 'log'; entry: LogEntry };
