/**
 * `ringleader up`: the embedded default, no Docker. Starts a relay process, the inspector in this
 * process, then N node processes; prints where to look and every node's leader changes; stops
 * everything on Ctrl-C or SIGTERM and exits 0.
 */
import { startInspector, type RunningInspector } from '../inspector/server/index.js';
import { createLogger } from '../runtime/logger.js';
import { parseOptions, renderHelp } from '../runtime/options.js';
import { checkPortFree, listenError, PortInUseError } from '../runtime/portInUse.js';
import { freePort } from './freePort.js';
import { Supervisor } from './supervisor.js';
import { UP_SUMMARY, UP_USAGE, upOptionSpecs } from './upOptions.js';
import { reportToConsole } from './upReport.js';

/** `up` is the local default: nothing it starts listens beyond this machine. */
const LOOPBACK = '127.0.0.1';

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { options, help } = parseOptions(upOptionSpecs, argv, env);
  if (help) {
    process.stdout.write(renderHelp(UP_USAGE, UP_SUMMARY, upOptionSpecs));
    return 0;
  }
  const write = (line: string) => process.stdout.write(`${line}\n`);

  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    CHECK_INTERVAL_MS: String(options.checkIntervalMs),
    LEADER_TIMEOUT_MS: String(options.leaderTimeoutMs),
    ELECTION_TIMEOUT_MS: String(options.electionTimeoutMs),
    LOG_LEVEL: options.logLevel,
    ...(options.token === undefined ? {} : { RING_TOKEN: options.token }),
  };
  // PORT, RELAY_URL and RANK are `up`'s business: the relay and nodes get them as flags.
  delete childEnv.PORT;
  delete childEnv.RELAY_URL;
  delete childEnv.RANK; // one rank for every node would make elections a tie on ids
  delete childEnv.NODE_ID; // one id for every node: all but the first would be refused (id_taken)
  const supervisor = new Supervisor({ env: childEnv, relayPort: options.port, relayArgs: ['--host', LOOPBACK] });
  const report = reportToConsole(supervisor, { write, childLogs: options.childLogs });

  // Signals first, so a Ctrl-C during start-up still stops whatever has started.
  let stopRequested!: (signal: NodeJS.Signals) => void;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals) => stopRequested(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let inspector: RunningInspector | undefined;
  let exitCode = 0;
  try {
    const starting = start();
    // If a signal wins the race, start-up fails as stop() ends its children; that is expected.
    starting.catch(() => {});
    const started = await Promise.race([starting, stopSignal.then(() => false as const)]);
    if (started) {
      write(`(Ctrl-C stops everything)`);
      report.ready();
    }
    const signal = await stopSignal;
    write(`\n${signal}: stopping ${supervisor.nodes.length} nodes and the relay...`);
  } catch (error) {
    process.stderr.write(`ringleader up: ${(error as Error).message}\n`);
    // A port in use is bad configuration, as for every command: exit 2.
    exitCode = error instanceof PortInUseError ? 2 : 1;
  } finally {
    report.quiet();
    await supervisor.stop();
    await inspector?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (exitCode === 0) write('stopped.');
  return exitCode;

  async function start(): Promise<true> {
    // The inspector comes first so the relay and every node can stream their machines to it;
    // it only needs to know where the relay will be.
    // Said here, in one line, rather than by a relay child that fails to listen.
    await checkPortFree(options.port, LOOPBACK, { flag: 'port', env: 'PORT' });
    const port = options.port === 0 ? await freePort() : options.port;
    supervisor.setRelayPort(port);
    if (options.inspector) {
      inspector = await startInspectorOn(options.inspectorPort, {
        host: LOOPBACK,
        relayUrl: `ws://${LOOPBACK}:${port}`,
        control: supervisor,
        token: options.token ?? '',
        // At the default level the inspector only speaks up about problems: this console is for the ring.
        logger: createLogger({ component: 'inspector', level: options.logLevel === 'info' ? 'warn' : options.logLevel }),
      });
      if (!env.INSPECT_URL) supervisor.setChildEnv({ INSPECT_URL: inspector.ingestUrl });
    }
    const relay = await supervisor.startRelay();
    const http = supervisor.relayHttpUrl;
    write(`relay      ${relay.url}   (pid ${supervisor.relay?.pid})`);
    write(`status     ${http}/status`);
    write(`metrics    ${http}/metrics`);
    if (inspector) write(`inspector  ${inspector.url}`);
    write(`starting ${options.nodes} node${options.nodes === 1 ? '' : 's'}...`);
    await supervisor.startNodes(options.nodes);
    return true;
  }
}

/** The inspector, with an error that says which option to change when its port is taken. */
async function startInspectorOn(port: number, options: Omit<Parameters<typeof startInspector>[0], 'port'>): Promise<RunningInspector> {
  try {
    return await startInspector({ ...options, port });
  } catch (error) {
    throw listenError(error, port, options.host ?? LOOPBACK, { flag: 'inspector-port', env: 'INSPECTOR_PORT' });
  }
}
