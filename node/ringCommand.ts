/**
 * What the ring-facing subcommands (`node`, `run`, `watch`) share around the library: checking `--ring`
 * and `--meta` as the relay will (a ConfigError that names the flag and its variable: exit 2),
 * and installing signal handlers that are removed again when the command is done.
 */
import { checkRingAndMeta } from './joinRing.js';
import { ConfigError } from '../runtime/options.js';

export function checkRingOptions(options: { ring?: unknown; meta?: unknown }): void {
  try {
    checkRingAndMeta('', options);
  } catch (error) {
    // checkRingAndMeta says ": ring must..." / ": meta is...": name the option as the user gave it.
    const message = (error as Error).message.replace(/^: ring\b/, '--ring (env RING)').replace(/^: meta\b/, '--meta (env NODE_META)');
    throw new ConfigError(message);
  }
}

/** Handles each signal named; returns the function that stops handling them. */
export function handleSignals(handlers: Partial<Record<NodeJS.Signals, (signal: NodeJS.Signals) => void>>): () => void {
  const installed = Object.entries(handlers) as [NodeJS.Signals, (signal: NodeJS.Signals) => void][];
  for (const [signal, handler] of installed) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of installed) process.off(signal, handler);
  };
}
