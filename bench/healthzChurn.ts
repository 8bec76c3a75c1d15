/**
 * `node dist/bench/healthzChurn.js [--sockets 2000] [--rounds 3]`: how long the relay's /healthz
 * takes to answer while `sockets` WebSocket clients connect to one ring and drop, round after
 * round (issue 21: 5.9 s at worst; the goal is p99 under 100 ms). Each probe opens a fresh
 * connection, as a load balancer's health check does (--keep-alive: one kept connection, which
 * leaves out the wait to be accepted). `--rings 100` spreads the clients over 100 rings. Prints
 * p50, p99 and max in ms, and the longest connect (the kernel's part).
 */
import { Agent, request } from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startRelay } from './childServer.js';

const { values } = parseArgs({ options: { churn: { type: 'string' }, 'keep-alive': { type: 'boolean', default: false }, sockets: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '500' }, rings: { type: 'string', default: '1' } } });
const sockets = Number(values.sockets);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
/** --keep-alive probes over one kept connection: how long the relay takes once the probe is read, without the wait to be accepted. */
const agent = values['keep-alive'] ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;

/** One client: connects, waits for the welcome (or a refusal), and drops the TCP connection. */
function connectAndDrop(url: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    const done = () => {
      socket.terminate();
      resolve();
    };
    socket.once('message', done);
    socket.once('error', done);
    socket.once('close', done);
  });
}

function probe(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const call = request({ host: '127.0.0.1', port, path: '/healthz', agent }, (response) => {
      response.resume();
      response.on('end', () => resolve(performance.now() - started));
    });
    call.on('error', () => resolve(Number.POSITIVE_INFINITY));
    call.on('socket', (socket) => {
      if (socket.connecting) socket.once('connect', () => connects.push(performance.now() - started));
    });
    call.end();
  });
}

async function churn(url: string): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < sockets) {
          next += 1;
          await connectAndDrop(`${url}/rings/churn-${next % Number(values.rings)}`);
        }
      }),
    );
  }
}

// The clients churn in a process of their own: 500 clients parsing a `ring` frame per join
// would otherwise keep this process's loop, and so its probes, waiting.
if (values.churn !== undefined) {
  await churn(values.churn);
  process.exit(0);
}

const relay = await startRelay('real', { nodeFlags: process.env.CHURN_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CHURN_PROF}`] : [], args: ['--host', '127.0.0.1', '--max-connections-per-address', String(sockets)], env: { LOG_LEVEL: 'warn' } });
const port = Number(new URL(relay.httpUrl).port);
const latencies: number[] = [];
/** How long each probe took to connect: the part the relay's loop has no say in (the kernel accepts). */
const connects: number[] = [];
const started = performance.now();
const churner = spawn(process.execPath, [fileURLToPath(import.meta.url), '--churn', relay.url, '--sockets', String(sockets), '--rounds', String(rounds), '--concurrency', String(concurrency), '--rings', String(values.rings)], { stdio: 'inherit' });
const churned = new Promise((resolve) => churner.once('exit', resolve));
let churning = true;
void churned.then(() => (churning = false));
while (churning) {
  latencies.push(await probe(port));
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await relay.stop();
const sorted = [...latencies].sort((a, b) => a - b);
const at = (share: number) => sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]!;
process.stdout.write(
  `healthz under churn: ${rounds} x ${sockets} sockets connect and drop (${concurrency} at a time) in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
    `${sorted.length} probes (${sorted.filter((ms) => ms > 1000).length} over 1 s): p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms; connecting took at most ${Math.max(0, ...connects).toFixed(1)} ms\n`,
);
