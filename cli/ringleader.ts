#!/usr/bin/env node
/**
 * `ringleader <command>`: one entry for every process the system runs. Each subcommand lives
 * with its folder and exports `run(argv, env)`, returning the exit code once it is done (or a
 * promise that settles when the process should exit).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../runtime/options.js';
import { exitWithLauncher, exitWithSupervisor } from './orphanGuard.js';

type CommandModule = { run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  relay: { summary: 'run the relay (WebSocket server, health and metrics)', load: () => import('../relay/cli.js') },
  node: { summary: 'run one ring member', load: () => import('../node/cli.js') },
  inspector: { summary: 'serve the live view of a running ring', load: () => import('../inspector/server/cli.js') },
  run: { summary: 'run a command only while this process leads the ring (a sidecar for any program)', load: () => import('./run/cli.js') },
  watch: { summary: 'print the ring\'s leader, one line per change', load: () => import('./watch.js') },
  up: { summary: 'run a relay, the inspector and N nodes on this machine (npm start)', load: () => import('./up.js') },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(10)} ${summary}`);
  return [
    'Usage: ringleader <command> [options]',
    '       ringleader --version',
    '',
    'Commands:',
    ...rows,
    '',
    'Options:',
    `  ${'-v, --version'.padEnd(14)} print the version`,
    `  ${'-h, --help'.padEnd(14)} show this help`,
    '',
    'Run "ringleader <command> --help" for its options.',
    '',
  ].join('\n');
}

/** The package's version: package.json is two folders up once built (dist/cli/), one up from source. */
function version(): string {
  for (const path of ['../../package.json', '../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'ringleader' && manifest.version) return manifest.version;
    } catch {
      // Not there from this location: try the next.
    }
  }
  return 'unknown';
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`ringleader: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ringleader ${name}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

// Children of `ringleader up` end when it does, even when it could not stop them (cli/orphanGuard.ts).
exitWithSupervisor(process.env);
// Nor do processes started by npx or npm start outlive the npm that a SIGTERM ended.
exitWithLauncher(process.env);
process.exitCode = await main(process.argv.slice(2));
