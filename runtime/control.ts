/**
 * What the inspector's buttons can do to a ring that `ringleader up` started. `up` implements
 * it over the child processes it owns; a standalone inspector has none, and shows no controls.
 *
 * Node processes react to signals, so control needs no extra channel:
 * SIGKILL = crash, SIGSTOP/SIGCONT = freeze/unfreeze, SIGUSR2 = start an election.
 */
export interface RingControl {
  crash(clientId: string): Promise<void>;
  freeze(clientId: string): Promise<void>;
  unfreeze(clientId: string): Promise<void>;
  startElection(clientId: string): Promise<void>;
  addNode(options?: { rank?: number }): Promise<void>;
  restartRelay(): Promise<void>;
  /**
   * Node processes alive now, including ones still starting: the inspector refuses `addNode`
   * beyond its cap (MAX_RING_NODES in inspector/server/controlEndpoint.ts) on this count.
   */
  nodeCount(): number;
}
