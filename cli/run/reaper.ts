/**
 * The command's guard against a sidecar that dies without stopping it (SIGKILL, out of memory):
 * `node reaper.js <pgid> <graceMs>`, started by the sidecar next to each command, in the
 * sidecar's own process group. It holds a pipe from the sidecar; when the pipe closes while the
 * command's group still runs, the sidecar is gone and so is its leadership, so it stops the
 * group the way the sidecar would (SIGTERM, then SIGKILL after the grace period). It exits as
 * soon as the group is gone, and shrugs off the signals meant for the sidecar (Ctrl-C, SIGTERM
 * to the sidecar's group, a closed terminal): the sidecar handles those itself.
 */
import { groupAlive, groupGone, signalGroup } from './processGroup.js';

const pgid = Number(process.argv[2]);
const graceMs = Number(process.argv[3]);
const WATCH_MS = 250;

if (!Number.isSafeInteger(pgid) || pgid <= 1 || !Number.isSafeInteger(graceMs) || graceMs < 0) {
  process.stderr.write('usage: reaper.js <pgid> <graceMs>\n');
  process.exit(2);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});

const watch = setInterval(() => {
  if (!groupAlive(pgid)) process.exit(0);
}, WATCH_MS);

let reaping = false;
const reap = async () => {
  if (reaping) return;
  reaping = true;
  clearInterval(watch);
  if (signalGroup(pgid, 'SIGTERM') && !(await groupGone(pgid, graceMs))) signalGroup(pgid, 'SIGKILL');
  process.exit(0);
};
process.stdin.on('end', reap);
process.stdin.on('close', reap);
process.stdin.on('error', reap);
process.stdin.resume();
