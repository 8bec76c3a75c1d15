/**
 * One worker of the cron example: three of these share a "run this job every second" duty, and
 * only the ring's leader runs it. The job stops the moment leadership is lost (the `signal`),
 * and every run carries the term, the fencing token a real job would hand to what it writes.
 *
 * Outside this repository the import is `import { joinRing } from 'ringleader'`.
 */
import { joinRing } from '../../index.js';

const name = process.env.WORKER_NAME ?? `worker-${process.pid}`;
const say = (text: string) => process.stdout.write(`${text}\n`);

const node = await joinRing({
  relay: process.env.RELAY_URL ?? 'ws://localhost:8080',
  // Its own name as its id, so "leader is worker-2" means that worker, across reconnects too.
  id: name,
  // Short timers so the example shows a failover in seconds; the defaults suit production.
  timing: { checkIntervalMs: 500, leaderTimeoutMs: 2000, electionTimeoutMs: 1000 },
});
say(`joined the ring as ${node.id} (rank ${node.rank})`);

node.onNewLeader(({ id, rank, term }) => say(`leader is ${id === node.id ? 'me' : id} (rank ${rank}, term ${term})`));

node.onStartedLeading(({ term, signal }) => {
  say(`leading (term ${term}): starting the every-second job`);
  let runs = 0;
  const timer = setInterval(() => {
    runs += 1;
    // A real job would pass `term` to the database or queue it writes to (docs/GUARANTEES.md).
    say(`job run #${runs} (term ${term})`);
  }, 1000);
  signal.addEventListener('abort', () => {
    clearInterval(timer);
    say(`stopped the job: term ${term} is over`);
  });
});

const leave = () => {
  void node.leave().then(() => {
    say(`${name} left the ring`);
    process.exit(0);
  });
};
process.on('SIGTERM', leave);
process.on('SIGINT', leave);
