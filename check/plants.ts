/**
 * Deliberately broken variants, to show the checker catches what it claims to. Each is built on
 * top of the real machines with `.provide()` (or is a timing change only), so nothing broken is
 * ever written into machines/. `npm run check -- --plant <name>` runs one; test/check.test.ts
 * runs the cheap one in CI.
 */
import { assign, enqueueActions, type AnyStateMachine } from 'xstate';
import { winnerOf } from '../machines/election.js';
import { judgmentOf, nodeMachine, type NodeContext, type NodeEvent } from '../machines/nodeMachine.js';
import type { Candidate, ElectionFrame } from '../machines/protocol.js';
import { relayMachine } from '../machines/relayMachine.js';
import type { CheckConfig } from './config.js';

export interface Plant {
  help: string;
  /** What a run with this plant changes in the configuration (applied once, when the run is set up). */
  configure?: (config: CheckConfig) => CheckConfig;
  /** The node machine to use instead of the real one. */
  nodeMachine?: () => AnyStateMachine;
}

/** The lowest (rank, id) of the live entries: `winnerOf` turned upside down. */
function lowestOf(eligible: readonly Candidate[], live: ReadonlySet<string>): Candidate {
  const inverted = eligible.map((entry) => ({ ...entry, rank: -entry.rank - 1 }));
  const pick = winnerOf(inverted, live);
  return eligible.find((entry) => entry.id === pick.id)!;
}

export const PLANTS: Record<string, Plant> = {
  'lowest-rank-wins': {
    help: 'the election rule picks the lowest (rank, id) instead of the highest',
    nodeMachine: () =>
      nodeMachine.provide({
        actions: {
          // The machine's own completion, with the winner picked upside down.
          completeElection: enqueueActions(({ context, event, enqueue }: { context: NodeContext; event: NodeEvent; enqueue: any }) => {
            if (event.type !== 'election') return;
            const judged = judgmentOf(context, event as ElectionFrame);
            if (judged.kind !== 'complete') return;
            const live = new Set([...context.members, context.id ?? '']);
            const winner = { ...lowestOf(judged.eligible, live), term: judged.winner.term };
            enqueue.emit({ type: 'electionCompleted', term: winner.term, winner, eligible: judged.eligible });
            enqueue.emit({ type: 'leaderChanged', leader: winner, previous: context.leader });
            enqueue.assign({ leader: winner, term: Math.max(context.term, winner.term), round: null, standing: !context.leaving });
            enqueue.sendTo('relay', { type: 'send', frame: { type: 'newLeader', to: 'all', leaderId: winner.id, rank: winner.rank, term: winner.term } });
          }) as never,
        },
      }),
  },
  'long-lease': {
    help: "the lease (600 ms) is longer than the relay's heartbeat interval (400 ms): a cut-off leader outlives its drop",
    configure: (config) => ({ ...config, timing: { ...config.timing, heartbeatTimeoutMs: 600 } }),
  },
  'lower-term-accepted': {
    help: 'a node adopts any leader announced to it, even one of a lower term than it knows',
    nodeMachine: () =>
      nodeMachine.provide({
        guards: {
          announcesOther: ({ context, event }: { context: NodeContext; event: NodeEvent }) => event.type === 'newLeader' && event.leaderId !== context.id,
        } as never,
        actions: {
          adoptAnnouncedLeader: assign(({ context, event }: { context: NodeContext; event: NodeEvent }) => {
            if (event.type !== 'newLeader') return {};
            return { leader: { id: event.leaderId, rank: event.rank, term: event.term }, term: Math.max(context.term, event.term), round: null, standing: !context.leaving };
          }) as never,
        },
      }),
  },
};

export function plantNamed(name: string | null): Plant | null {
  if (name === null) return null;
  const plant = PLANTS[name];
  if (plant === undefined) throw new Error(`unknown plant "${name}"; known: ${Object.keys(PLANTS).join(', ')}`);
  return plant;
}

/** The machines a run checks: the real ones, or a plant's variant. */
export function machinesFor(plant: string | null): { node: AnyStateMachine; relay: AnyStateMachine } {
  return { node: plantNamed(plant)?.nodeMachine?.() ?? nodeMachine, relay: relayMachine };
}
