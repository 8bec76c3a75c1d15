/**
 * Failover after a freeze (SIGSTOP: socket open, no answers). Detection needs a timeout here,
 * so the figure is dominated by LEADER_TIMEOUT_MS; the question is how small it can be made
 * before a busy relay makes healthy leaders look dead. `searchLeaderTimeout` tries timeouts
 * from large to small on a ring of node processes while the throughput load runs through the
 * same relay, and keeps the smallest one under which no election started at all.
 */
import { Supervisor } from '../cli/supervisor.js';
import type { LogRecord } from '../cli/logRecords.js';
import { startLoad, type ThroughputOptions } from './throughput.js';
import { sleep } from './stats.js';

export interface TimeoutProbe {
  leaderTimeoutMs: number;
  /** Elections started (by any node) while the load ran; any is a false election. */
  falseElections: number;
  /** Node processes the relay dropped while the load ran (its heartbeat follows LEADER_TIMEOUT_MS). */
  leaves: number;
  /** Frames per second the load got through meanwhile. */
  loadFramesPerSecond: number;
}

export interface SearchOptions {
  candidates: readonly number[];
  nodes: number;
  windowMs: number;
  load: Pick<ThroughputOptions, 'clients' | 'inFlight'>;
  env?: NodeJS.ProcessEnv;
  progress: (line: string) => void;
}

/** Probes each candidate (largest first) and stops at the first one that caused a false election. */
export async function searchLeaderTimeout(options: SearchOptions): Promise<{ probes: TimeoutProbe[]; smallestSafeMs: number | null }> {
  const probes: TimeoutProbe[] = [];
  let smallestSafeMs: number | null = null;
  for (const leaderTimeoutMs of [...options.candidates].sort((a, b) => b - a)) {
    const probe = await probeTimeout(leaderTimeoutMs, options);
    probes.push(probe);
    options.progress(
      `  LEADER_TIMEOUT_MS=${leaderTimeoutMs}: ${probe.falseElections} false elections, ${probe.leaves} members dropped, load ${Math.round(probe.loadFramesPerSecond)} frames/s`,
    );
    if (probe.falseElections > 0 || probe.leaves > 0) break;
    smallestSafeMs = leaderTimeoutMs;
  }
  return { probes, smallestSafeMs };
}

async function probeTimeout(leaderTimeoutMs: number, options: SearchOptions): Promise<TimeoutProbe> {
  const supervisor = new Supervisor({
    env: { ...(options.env ?? process.env), LEADER_TIMEOUT_MS: String(leaderTimeoutMs), LOG_LEVEL: 'info' },
    relayPort: 0,
    // The load's clients send thousands of frames per second each; the per-connection limit is for abuse, not for this.
    relayArgs: ['--rate-limit', '0'],
  });
  try {
    await supervisor.startRelay();
    await supervisor.startNodes(options.nodes);
    await supervisor.waitFor(() => {
      const agreement = supervisor.agreement();
      return agreement !== null && agreement.nodes.length === options.nodes ? agreement : undefined;
    }, { timeoutMs: 60_000, what: `${options.nodes} node processes to agree` });
    // Settle, so that the start-up's own elections are not counted.
    await sleep(Math.max(500, leaderTimeoutMs));
    let elections = 0;
    // Only node processes count: the load's own clients may be dropped too when the bench process
    // is slow to answer pings, but that is not the ring electing for nothing.
    const nodeIds = new Set(supervisor.nodes.map((node) => node.clientId));
    const dropped = new Set<string>();
    const count = (_child: unknown, record: LogRecord) => {
      if (record.msg === 'election started') elections += 1;
      if (record.msg === 'member left' && typeof record.memberId === 'string' && nodeIds.has(record.memberId)) dropped.add(record.memberId);
    };
    supervisor.on('record', count);
    const load = await startLoad(supervisor.relayUrl, options.load);
    const before = load.received();
    const start = performance.now();
    await sleep(options.windowMs);
    const loadFramesPerSecond = ((load.received() - before) * 1000) / (performance.now() - start);
    load.stop();
    supervisor.off('record', count);
    return { leaderTimeoutMs, falseElections: elections, leaves: dropped.size, loadFramesPerSecond };
  } finally {
    await supervisor.stop();
  }
}
