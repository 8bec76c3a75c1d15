/**
 * Counterexamples as files anyone can replay: the configuration (plant included) plus the list of
 * steps from the start, as JSON. Replaying re-runs the same steps on the same machines, checks
 * each one was allowed (so a stale trace fails loudly instead of proving nothing), judges every
 * state again, and describes each step for a reader.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { ClientFrame, ServerFrame } from '../machines/protocol.js';
import { defaultConfig, type CheckConfig } from './config.js';
import type { StepReport } from './host.js';
import { createModel, initialWorld, type Model } from './model.js';
import { checkStep, stateName, type Violation } from './properties.js';
import { Stepper, stepKey, type Step } from './steps.js';
import { isAlive, type Message, type World } from './world.js';

export const TRACE_FORMAT = 'ringleader-check-trace';

export interface Trace {
  format: typeof TRACE_FORMAT;
  version: 1;
  config: CheckConfig;
  /** What the search found at the end of `steps` (null for a trace kept as an example). */
  violation: Violation | null;
  steps: Step[];
}

export function makeTrace(config: CheckConfig, violation: Violation | null, steps: Step[]): Trace {
  return { format: TRACE_FORMAT, version: 1, config, violation, steps };
}

/** The configuration indented, the steps one per line: a trace is read (and diffed) a step at a time. */
export function writeTrace(path: string, trace: Trace): void {
  const head = JSON.stringify({ ...trace, steps: [] }, null, 1);
  const steps = trace.steps.map((step) => `  ${JSON.stringify(step)}`).join(',\n');
  writeFileSync(path, `${head.replace(/"steps": \[\]/, trace.steps.length === 0 ? '"steps": []' : `"steps": [\n${steps}\n ]`)}\n`);
}

/** Reads and checks a trace file; a clear error for anything else. */
export function readTrace(path: string): Trace {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path} is not a readable JSON trace: ${(error as Error).message}`);
  }
  const trace = value as Partial<Trace>;
  if (trace?.format !== TRACE_FORMAT || trace.version !== 1 || !Array.isArray(trace.steps) || typeof trace.config !== 'object' || trace.config === null) {
    throw new Error(`${path} is not a ${TRACE_FORMAT} file (version 1, with config and steps)`);
  }
  // A trace written by an older checker may lack newer settings: their defaults apply.
  return { ...(trace as Trace), config: defaultConfig(trace.config) };
}

export interface ReplayedStep {
  index: number;
  step: Step;
  /** The step in words, read off the world before it. */
  description: string;
  /** The processes and the relay after it, one line each. */
  after: string[];
  violation: Violation | null;
}

export interface ReplayOutcome {
  steps: ReplayedStep[];
  violation: Violation | null;
  world: World;
}

/** Replays every step of `trace`; stops at the first violation (which should be the last step). */
export function replay(trace: Trace): ReplayOutcome {
  const model = createModel(trace.config);
  const stepper = new Stepper(model);
  let world = initialWorld(model);
  const replayed: ReplayedStep[] = [];
  for (const [index, step] of trace.steps.entries()) {
    const key = stepKey(step);
    if (!stepper.enabled(world).some((candidate) => stepKey(candidate) === key)) {
      throw new Error(`step ${index + 1} (${key}) is not possible in the state the trace reached: the trace does not fit these machines`);
    }
    const description = describeStep(model, world, step);
    const next = stepper.apply(world, step);
    world = next.world;
    const violation = checkStep(model, world, next.report);
    replayed.push({ index, step, description: withReport(description, next.report), after: describeWorld(model, world), violation });
    if (violation !== null) return { steps: replayed, violation, world };
  }
  return { steps: replayed, violation: null, world };
}

function withReport(description: string, report: StepReport): string {
  const completions = report.completions.map(({ process, event }) => ` [#${process} completes term ${event.term}: ${event.winner.id} wins]`);
  return description + completions.join('');
}

function idOf(model: Model, world: World, index: number): string {
  const process = world.processes[index];
  if (process === undefined || !isAlive(process)) return `#${index}`;
  const id = model.nodes.snapshot(process.machine).context.id;
  return id === null ? `#${index}` : `#${index} (${id})`;
}

export function describeFrame(frame: ClientFrame | ServerFrame): string {
  const { type, ...rest } = frame;
  return `${type} ${JSON.stringify(rest)}`;
}

function describeMessage(message: Message): string {
  switch (message.kind) {
    case 'frame':
      return describeFrame(message.frame);
    case 'pong':
      return `pong ${message.seq}`;
    case 'upgrade':
      return `upgrade${message.resume === null ? '' : ` ?resume=${message.resume}`}`;
    case 'closed':
      return 'the close of the socket';
    case 'fin':
      return 'the close of the socket (FIN)';
  }
}

/** One step in words, read off the world it is taken in. */
export function describeStep(model: Model, world: World, step: Step): string {
  switch (step.kind) {
    case 'tick':
      return 'time: one tick passes';
    case 'arrive': {
      const message = world.processes[step.process]!.sockets[step.socket]!.up[0]!;
      return `relay <- ${idOf(model, world, step.process)}: ${describeMessage(message)}`;
    }
    case 'receive': {
      const message = world.processes[step.process]!.sockets[step.socket]!.down[0]!;
      return `${idOf(model, world, step.process)} <- relay: ${describeMessage(message)}`;
    }
    case 'timer':
      return `${idOf(model, world, step.process)}: timer ${step.id} fires`;
    case 'relay-timer':
      return `relay: timer ${step.id} fires`;
    case 'relay-heartbeat':
      return 'relay: heartbeat (drops members that did not answer the last ping, pings the rest)';
    case 'connect':
      return `${idOf(model, world, step.process)}: connects`;
    case 'thaw':
      return `${idOf(model, world, step.process)}: thaws (overdue timers fire first)`;
    case 'join':
      return `FAULT: process #${world.processes.length} starts and joins`;
    case 'restart':
      return 'FAULT: the relay restarts';
    default:
      return `FAULT: ${step.kind} ${idOf(model, world, step.process)}`;
  }
}

/** Every process and the relay, one line each. */
export function describeWorld(model: Model, world: World): string[] {
  const lines = world.processes.map((process, index) => {
    if (process.status !== 'running') return `  #${index}: ${process.status}`;
    const { value, context } = model.nodes.snapshot(process.machine);
    const leader = context.leader === null ? 'none' : `${context.leader.id}/t${context.leader.term}`;
    const flags = [process.frozen ? 'FROZEN' : '', process.sockets.some((socket) => socket.cut) ? 'CUT' : ''].filter(Boolean).join(' ');
    return `  #${index} ${context.id ?? '-'} rank ${context.rank}: ${stateName(value)}, leader ${leader}, term ${context.term}${flags ? `, ${flags}` : ''}`;
  });
  const relay = model.relay.snapshot(world.relay.machine).context;
  const reported = relay.leader === null ? 'none' : `${relay.leader.id}/t${relay.leader.term}`;
  lines.push(`  relay: members [${relay.members.toArray().join(', ')}], reports ${reported}, highest term ${relay.highestTerm}`);
  return lines;
}
