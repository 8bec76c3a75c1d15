/**
 * What the ring-facing subcommands (`node`, `run`, `watch`) share around the library: checking `--ring`
 * and `--meta` as the relay will (a ConfigError that names the flag and its variable: exit 2),
 * the `joinRing` options a member's flags give, and installing signal handlers that are removed
 * again when the command is done.
 */
import type { Logger } from '../runtime/logger.js';
import type { Meta } from '../machines/protocol.js';
import { RelayConnectionError } from './connectFailure.js';
import { checkId, checkRingAndMeta, type JoinRingOptions } from './joinRing.js';
import { ConfigError } from '../runtime/options.js';

export function checkRingOptions(options: { ring?: unknown; meta?: unknown; id?: unknown }): void {
  try {
    checkRingAndMeta('', options);
    checkId('', options.id);
  } catch (error) {
    // The checks say ": ring must..." / ": meta is..." / ": id must...": name the option as the user gave it.
    const message = (error as Error).message
      .replace(/^: ring\b/, '--ring (env RING)')
      .replace(/^: meta\b/, '--meta (env NODE_META)')
      .replace(/^: id\b/, '--id (env NODE_ID)');
    throw new ConfigError(message);
  }
}

/** The flags of a command that joins as a member (`node`, `run`): node/config.ts's options. */
export interface MemberFlags {
  relay: string[];
  rank?: number | undefined;
  token?: string | undefined;
  ring?: string | undefined;
  id?: string | undefined;
  meta?: Meta | undefined;
  connectTimeoutMs: number;
  checkIntervalMs: number;
  leaderTimeoutMs: number;
  electionTimeoutMs: number;
}

/** `joinRing`'s options from a member's flags, with what the command itself brings. */
export function joinOptionsFrom(
  flags: MemberFlags,
  own: { logger: Logger; signal: AbortSignal; inspect?: JoinRingOptions['inspect'] },
): JoinRingOptions {
  return {
    relay: flags.relay,
    rank: flags.rank,
    token: flags.token,
    ring: flags.ring,
    id: flags.id,
    meta: flags.meta,
    connectTimeoutMs: flags.connectTimeoutMs,
    timing: { checkIntervalMs: flags.checkIntervalMs, leaderTimeoutMs: flags.leaderTimeoutMs, electionTimeoutMs: flags.electionTimeoutMs },
    ...own,
  };
}

/** Handles each signal named; returns the function that stops handling them. */
export function handleSignals(handlers: Partial<Record<NodeJS.Signals, (signal: NodeJS.Signals) => void>>): () => void {
  const installed = Object.entries(handlers) as [NodeJS.Signals, (signal: NodeJS.Signals) => void][];
  for (const [signal, handler] of installed) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of installed) process.off(signal, handler);
  };
}

/**
 * The one fatal line of a command whose join failed: the library only rejects (a library does not
 * shout what its caller handles), so the command, which ends over it, says why.
 */
export function logJoinFailure(logger: Logger, error: unknown, what: string): void {
  if (error instanceof RelayConnectionError) logger.fatal({ relay: error.relay, code: error.code, status: error.status }, error.message);
  else logger.fatal({ err: error }, what);
}
