/**
 * The command's guard, whatever happens to the sidecar: `node watchdog.js <pgid> <leaseEndsAt>
 * <leaseMs> <logLevel>`, started by the sidecar next to each command, in a session and process
 * group of its own, so that no signal to the sidecar's group (Ctrl-\ in a terminal, `kill -9 %1`,
 * `kill -- -<pgid>`) reaches it.
 *
 * The sidecar tells it, on its stdin, when its lease ends (`lease <t>` lines, on the shared clock:
 * sharedClock.ts), each time a round trip to the relay renews it while the sidecar leads. The
 * watchdog sends SIGKILL to the command's whole group
 * - when the lease end passes without a renewal: the sidecar's node steps down then, before any
 *   other member can be elected (docs/GUARANTEES.md), whether the sidecar runs, is frozen or is
 *   stuck; a healthy sidecar that lost its lease stops the command at the same moment;
 * - at once when the pipe closes without the group being gone: the sidecar died, its socket to
 *   the relay closed with it, and the relay may elect a successor within milliseconds;
 * - at once when it is itself asked to end (SIGTERM, SIGINT, SIGHUP): it never leaves the command
 *   running unguarded.
 * It exits as soon as the group is gone, and keeps sending SIGKILL until then (a process forked as
 * the first one landed). A lease end more than one lease ahead of now is taken as one lease from
 * now: a lease never runs longer.
 */
import { createLogger } from '../../runtime/logger.js';
import { groupAlive, signalGroup } from './processGroup.js';
import { sharedNow } from './sharedClock.js';

const [pgid, firstLeaseEnd, leaseMs] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const level = process.argv[5] ?? 'info';
const WATCH_MS = 100;

if (!Number.isSafeInteger(pgid) || pgid <= 1 || !Number.isFinite(firstLeaseEnd) || !Number.isFinite(leaseMs) || leaseMs <= 0) {
  process.stderr.write('usage: watchdog.js <pgid> <leaseEndsAt> <leaseMs> [logLevel]\n');
  process.exit(2);
}

const logger = createLogger({ component: 'run', level, fd: 2 }).child({ commandPid: pgid, role: 'watchdog' });
let killed = false;
let leaseTimer: NodeJS.Timeout | undefined;
/** The lease end in force, on the shared clock. */
let due = Number.NaN;

function kill(reason: string, fields: Record<string, unknown> = {}): void {
  clearTimeout(leaseTimer);
  if (killed) return;
  killed = true;
  if (signalGroup(pgid, 'SIGKILL')) logger.warn({ reason, ...fields }, 'watchdog: sent SIGKILL to the command\'s process group');
}

/** The lease now ends at `end` (shared clock): arms the kill for then, replacing the previous one. */
function leaseEndsAt(end: number): void {
  if (killed) return;
  const now = sharedNow();
  due = Math.min(end, now + leaseMs);
  clearTimeout(leaseTimer);
  leaseTimer = setTimeout(check, Math.max(0, due - now));
}

/**
 * A timer may fire a little early: it re-arms until the lease end has really passed. Then it
 * waits one more turn of the event loop (setImmediate runs after the loop has read the pipe), so
 * that a renewal already written is read first: the end given at start is as old as this
 * process's start-up, which can take a good part of a lease on a busy machine.
 */
function check(): void {
  const left = due - sharedNow();
  if (left > 0) {
    leaseTimer = setTimeout(check, left);
    return;
  }
  setImmediate(() => {
    const late = sharedNow() - due;
    if (late >= 0) kill('the sidecar\'s lease ended without a renewal', { lateMs: Math.round(late) });
  });
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {
  kill(`the watchdog got ${signal}`);
  if (!groupAlive(pgid)) process.exit(0);
});

setInterval(() => {
  if (!groupAlive(pgid)) process.exit(0);
  if (killed) signalGroup(pgid, 'SIGKILL');
}, WATCH_MS);

leaseEndsAt(firstLeaseEnd);

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf('\n')) !== -1) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    const match = /^lease (\d+(?:\.\d+)?)$/.exec(line);
    if (match) leaseEndsAt(Number(match[1]));
  }
});
const sidecarGone = () => {
  if (groupAlive(pgid)) kill('the sidecar is gone (its pipe closed)');
};
process.stdin.on('end', sidecarGone);
process.stdin.on('close', sidecarGone);
process.stdin.on('error', sidecarGone);
logger.debug({ leaseMs }, 'watchdog: guarding the command');
