/** The faults the simulator can inject, and how `--faults` names them. */

export const FAULT_KINDS = [
  'crash-leader',
  'crash',
  'freeze',
  'freeze-leader',
  'join',
  'leave',
  'relay-restart',
  'disconnect',
  'resign',
  'election',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What each fault does, for --help and docs/ALGORITHM.md. */
export const FAULT_HELP: Record<FaultKind, string> = {
  'crash-leader': 'the leader process dies: its socket closes, the relay sends ring{left}',
  crash: 'a random member dies the same way',
  freeze: 'a random member stops processing (SIGSTOP) but its socket stays open until the relay heartbeat drops it',
  'freeze-leader': 'the leader freezes',
  join: 'a new process joins with a random rank',
  leave: 'a member leaves on purpose (a leader resigns first, then closes)',
  'relay-restart': 'the relay restarts: every socket closes, frames in flight are lost, nodes reconnect and resume their ids',
  disconnect: 'a network blip: the node sees its socket close at once, the relay only later, so resuming its id may be refused',
  resign: 'the leader resigns (the library call)',
  election: 'someone presses "start election" (SIGUSR2 / the inspector)',
};

/** `mixed` = every kind; otherwise a comma-separated list. */
export function parseFaultList(text: string): FaultKind[] {
  if (text === 'mixed' || text === 'all') return [...FAULT_KINDS];
  if (text === 'none' || text === '') return [];
  const kinds = text.split(',').map((part) => part.trim());
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`unknown fault "${kind}"; use mixed, none or a comma-separated list of: ${FAULT_KINDS.join(', ')}`);
    }
  }
  return kinds as FaultKind[];
}

/** Whether a run is the failover benchmark: leaders crash one after another, each failover measured alone. */
export function isSequentialFailover(kinds: readonly FaultKind[]): boolean {
  return kinds.length > 0 && kinds.every((kind) => kind === 'crash-leader');
}
