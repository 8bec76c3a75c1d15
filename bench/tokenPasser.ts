/**
 * One bare client as its own process, for the raw lap of a ring of processes: it joins the relay
 * given as argv[2], prints `ready <id>`, and sends every token it receives on to `next`.
 * A ring of node processes pays a process wake-up per hop; a raw lap among clients that all live
 * in one process does not, so process figures get this baseline instead.
 */
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { track } from './childServer.js';
import { connectClient, probeFrame } from './wireClients.js';

async function main(url: string): Promise<void> {
  const client = await connectClient(url);
  const token = probeFrame('next', 'lap');
  client.onFrame((text) => {
    if (text.includes('"lap"')) client.socket.send(token);
  });
  client.socket.on('close', () => process.exit(0));
  process.stdout.write(`ready ${client.id}\n`);
}

/** Starts `count` token passers on `url`, one after another (so they join in order). */
export async function startTokenPassers(url: string, count: number): Promise<{ stop(): void }> {
  const children: ChildProcess[] = [];
  const stop = () => children.forEach((child) => child.kill('SIGKILL'));
  try {
    for (let index = 0; index < count; index += 1) {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), url], { stdio: ['ignore', 'pipe', 'inherit'] });
      track(child);
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('a token passer did not join within 20 s')), 20_000);
        createInterface({ input: child.stdout! }).once('line', () => {
          clearTimeout(timer);
          resolve();
        });
        child.once('exit', () => reject(new Error('a token passer exited before joining')));
      });
    }
  } catch (error) {
    stop();
    throw error;
  }
  return { stop };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main(process.argv[2] ?? '');
