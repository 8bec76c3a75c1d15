/**
 * One fuzz run, start to finish: start the ring (relay, nodes, inspector as processes), wait for
 * its first leader, take the baseline (memory, metrics, logs), fuzz, close the fuzz connections,
 * wait for the real nodes to agree again, run the checks, stop the ring, and report.
 */
import type { LeaderInfo } from '../machines/protocol.js';
import { Rng } from '../sim/rng.js';
import { runCampaign, type CampaignProgress, type CampaignResult } from './campaign.js';
import { figuresSince, readRelayFigures, sum, type RelayFigures } from './relayMetrics.js';
import { checkErrorLines, checkMemory, checkRelayLog, relayLogSince, sampleMemory, type MemorySample, type MemoryTrack, type RelayLogFigures } from './resourceChecks.js';
import { checkInspector, checkProcesses, checkRelayEndpoints, waitForAgreement, type CheckResult, type InspectorStats } from './ringChecks.js';
import { runSurfaceCampaign, type SurfaceResult } from './surfaceCampaign.js';
import { startTargetRing, type TargetRing } from './targetRing.js';

export interface FuzzTiming {
  checkIntervalMs: number;
  leaderTimeoutMs: number;
  electionTimeoutMs: number;
}

export interface FuzzOptions {
  seed: number;
  /** Messages to send in all (ring frames and inspection messages). */
  frames: number;
  nodes: number;
  /** Fuzz members on the relay at once. */
  connections: number;
  /** Fuzz streams on the inspector at once. */
  streams: number;
  /** Hostile HTTP requests (paths, queries, headers, upgrades) at the relay's and inspector's endpoints, after the frames. */
  requests: number;
  /** Frames per second of each paced fuzz member. */
  ratePerSecond: number;
  inspectRatePerSecond: number;
  timing: FuzzTiming;
  /** How much the relay's and the inspector's RSS may each end above their peak in the first half of the run. */
  memoryBoundMB: number;
  /** The share of rejections the relay may write a log line for (plus one line per connection). */
  rejectionLogShare: number;
  /** Progress and phase lines for people. */
  say?: (line: string) => void;
}

export interface FuzzReport {
  ok: boolean;
  seed: number;
  replay: string;
  options: Omit<FuzzOptions, 'say'>;
  sent: { total: number; byFamily: Record<string, number>; byKind: Record<string, number> };
  surface: { sent: Record<string, number>; answers: Record<string, number>; batches: number; seconds: number };
  fuzzConnections: { members: Record<string, number>; streams: number; closes: Record<string, number>; errorFramesReceived: Record<string, number> };
  relay: RelayFigures & { log: RelayLogFigures };
  inspector: InspectorStats | null;
  nodeLogLines: number;
  memory: MemoryTrack;
  leader: { before: LeaderInfo; after: LeaderInfo | null; outcome: 'kept' | 'regained' | 'lost' };
  seconds: { startup: number; fuzzing: number; recovery: number; total: number };
  checks: CheckResult[];
}

export const DEFAULT_TIMING: FuzzTiming = { checkIntervalMs: 1000, leaderTimeoutMs: 5000, electionTimeoutMs: 3000 };

const MEMORY_SAMPLE_MS = 1000;

/** The command that replays a run: the same seed draws the same ring, connections and frames. */
export function replayCommand(options: Omit<FuzzOptions, 'say'>): string {
  const flags = [
    `--seed ${options.seed}`,
    `--frames ${options.frames}`,
    `--nodes ${options.nodes}`,
    `--connections ${options.connections}`,
    `--streams ${options.streams}`,
    `--requests ${options.requests}`,
    `--rate ${options.ratePerSecond}`,
    `--inspect-rate ${options.inspectRatePerSecond}`,
    `--check-interval-ms ${options.timing.checkIntervalMs}`,
    `--leader-timeout-ms ${options.timing.leaderTimeoutMs}`,
    `--election-timeout-ms ${options.timing.electionTimeoutMs}`,
    `--memory-bound-mb ${options.memoryBoundMB}`,
  ];
  return `npm run fuzz -- ${flags.join(' ')}`;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const say = options.say ?? (() => {});
  const { say: _say, ...settings } = options;
  const started = Date.now();
  const rng = new Rng(options.seed);
  const ranks = Array.from({ length: options.nodes }, () => rng.int(0, 1_000_000));
  const { timing } = options;
  // Agreement after the fuzzing may need a leader timeout to notice a leader that is gone, a
  // backup timer, and a lap or two: a few of each, generously, on a busy machine.
  const agreementTimeoutMs = Math.max(30_000, 6 * (timing.checkIntervalMs + timing.leaderTimeoutMs + timing.electionTimeoutMs));

  say(`starting a relay, ${options.nodes} nodes (ranks ${ranks.join(', ')}) and the inspector...`);
  const ring = await startTargetRing({
    nodes: options.nodes,
    ranks,
    env: {
      CHECK_INTERVAL_MS: String(timing.checkIntervalMs),
      LEADER_TIMEOUT_MS: String(timing.leaderTimeoutMs),
      ELECTION_TIMEOUT_MS: String(timing.electionTimeoutMs),
      LOG_LEVEL: 'info',
    },
  });
  try {
    const first = await waitForAgreement(ring, agreementTimeoutMs);
    if (!first.agreement.agreed) throw new Error(`the ring never agreed on a first leader: ${first.check.detail}`);
    const leaderBefore = first.agreement.leader;
    say(`ring up: ${first.check.detail}; relay ${ring.relayUrl}, inspector ${ring.inspector.url}`);
    const startupSeconds = (Date.now() - started) / 1000;

    const limits = ((await (await fetch(`${ring.relayHttpUrl}/status`)).json()) as { limits: { maxPayloadBytes: number; rateBurst: number } }).limits;
    const figuresBefore = await readRelayFigures(ring.relayHttpUrl);
    const logStart = logPositions(ring);
    const memory: MemoryTrack = { idle: sampleMemory(ring), during: [], after: { relayMB: 0, inspectorMB: 0 } };
    say(`fuzzing: ${options.frames} messages from ${options.connections} members and ${options.streams} inspection streams at a time; relay RSS ${memory.idle.relayMB.toFixed(1)} MB, inspector ${memory.idle.inspectorMB.toFixed(1)} MB`);

    const sampler = setInterval(() => memory.during.push(sampleMemory(ring)), MEMORY_SAMPLE_MS);
    let campaign: CampaignResult;
    try {
      campaign = await runCampaign({
        relayUrl: ring.relayUrl,
        ingestUrl: ring.inspector.ingestUrl,
        seed: rng.seed(),
        messages: options.frames,
        connections: options.connections,
        streams: options.streams,
        ratePerSecond: options.ratePerSecond,
        inspectRatePerSecond: options.inspectRatePerSecond,
        maxPayloadBytes: limits.maxPayloadBytes,
        rateBurst: limits.rateBurst,
        members: () => ring.supervisor.nodes.map((node) => node.clientId).filter((id): id is string => id !== undefined),
        onProgress: (progress: CampaignProgress) => say(progressLine(progress, memory.during[memory.during.length - 1] ?? memory.idle)),
      });
    } finally {
      clearInterval(sampler);
    }
    say(`frames done: ${campaign.sent.total} sent in ${(campaign.elapsedMs / 1000).toFixed(1)} s; ${options.requests} hostile requests at the relay's and the inspector's endpoints...`);
    const surface = await runSurfaceCampaign(
      {
        seed: rng.seed(),
        requests: options.requests,
        batches: surfaceBatches(options.requests),
        concurrency: SURFACE_CONCURRENCY,
        relay: { port: Number(new URL(ring.relayHttpUrl).port), url: ring.relayUrl },
        inspector: { port: Number(new URL(ring.inspector.url).port) },
      },
      say,
    );
    say(`fuzzing done: ${campaign.sent.total} sent in ${(campaign.elapsedMs / 1000).toFixed(1)} s${campaign.stalled ? ' (STALLED: nothing could be sent for 30 s)' : ''}; waiting for the nodes to agree (up to ${agreementTimeoutMs / 1000} s)...`);

    const recoveryStarted = Date.now();
    const after = await waitForAgreement(ring, agreementTimeoutMs);
    const recoverySeconds = (Date.now() - recoveryStarted) / 1000;
    const nodeIds = ring.supervisor.nodes.map((node) => node.clientId ?? '?');
    const figures = figuresSince(figuresBefore, await readRelayFigures(ring.relayHttpUrl));
    const inspector = await checkInspector(ring, nodeIds, 10_000);
    memory.after = sampleMemory(ring);
    const log = relayLogSince(ring, logStart.relay);
    const checks: CheckResult[] = [
      checkProcesses(ring),
      ...(campaign.stalled ? [{ name: 'campaign', ok: false, detail: `stalled after ${campaign.sent.total} of ${options.frames} messages` }] : []),
      surfaceCheck(surface),
      after.check,
      await checkRelayEndpoints(ring, nodeIds, figures),
      inspector.check,
      checkMemory('relay memory', memory, (sample) => sample.relayMB, options.memoryBoundMB),
      checkMemory('inspector memory', memory, (sample) => sample.inspectorMB, options.memoryBoundMB),
      checkRelayLog(log, sum(figures.rejected), figures.joins, options.rejectionLogShare),
      checkErrorLines(ring, logStart),
    ];
    const leaderAfter = after.agreement.agreed ? after.agreement.leader : null;
    const kept = leaderAfter !== null && leaderAfter.id === leaderBefore.id && leaderAfter.term === leaderBefore.term;
    return {
      ok: checks.every((check) => check.ok),
      seed: options.seed,
      replay: replayCommand(settings),
      options: settings,
      sent: { total: campaign.sent.total, byFamily: campaign.sent.byFamily(), byKind: campaign.sent.toJSON() },
      surface: { sent: surface.sent.toJSON(), answers: surface.answers.toJSON(), batches: surface.batches, seconds: surface.elapsedMs / 1000 },
      fuzzConnections: { members: campaign.members.toJSON(), streams: campaign.streams, closes: campaign.closes.toJSON(), errorFramesReceived: campaign.errors.toJSON() },
      relay: { ...figures, log },
      inspector: inspector.stats,
      nodeLogLines: logPositions(ring).nodes.reduce((total, count, index) => total + count - (logStart.nodes[index] ?? 0), 0),
      memory,
      leader: { before: leaderBefore, after: leaderAfter, outcome: leaderAfter === null ? 'lost' : kept ? 'kept' : 'regained' },
      seconds: { startup: startupSeconds, fuzzing: campaign.elapsedMs / 1000, recovery: recoverySeconds, total: (Date.now() - started) / 1000 },
      checks,
    };
  } finally {
    await ring.stop();
  }
}

/** Requests in flight at once against the relay and the inspector. */
const SURFACE_CONCURRENCY = 8;

/** A batch every 100-500 requests: at least 3, at most 20 (each ends with a fresh ring's election). */
function surfaceBatches(requests: number): number {
  return Math.max(1, Math.min(20, Math.max(3, Math.ceil(requests / 500)), requests));
}

function surfaceCheck(surface: SurfaceResult): CheckResult {
  const total = surface.sent.total;
  return {
    name: 'HTTP and upgrade surface',
    ok: surface.failures.length === 0,
    detail:
      surface.failures.length === 0
        ? `${total} hostile requests in ${surface.batches} batches: each answered, none 5xx but 503; both servers answered after each batch and a fresh ring elected`
        : `${surface.failures.length} failures, first: ${surface.failures.slice(0, 3).join(' | ')}`,
  };
}

/** How many log lines each process has written so far: what a run wrote is what comes after. */
function logPositions(ring: TargetRing): { relay: number; nodes: number[]; inspector: number } {
  return {
    relay: ring.supervisor.relay?.records.length ?? 0,
    nodes: ring.supervisor.allNodes.map((node) => node.records.length),
    inspector: ring.inspector.records.length,
  };
}

function progressLine(progress: CampaignProgress, memory: MemorySample): string {
  const percent = ((100 * progress.sent) / progress.total).toFixed(0);
  return `  ${progress.sent}/${progress.total} sent (${percent}%), ${Math.round(progress.rate)}/s, ${(progress.elapsedMs / 1000).toFixed(0)} s; relay RSS ${memory.relayMB.toFixed(1)} MB, inspector ${memory.inspectorMB.toFixed(1)} MB`;
}
