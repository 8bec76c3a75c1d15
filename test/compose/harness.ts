/**
 * The compose test harness: Docker tools installed if missing, a private dockerd, the
 * Dockerfile's base image made available offline, and a `compose` function that runs either
 * `docker compose` (v2) or `docker-compose` (1.29) against the project's docker-compose.yml
 * plus the test's override file. `stop()` brings the project down and stops the engine.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseImagesOf, ensureBaseImage } from './baseImage.js';
import { startDockerEngine, type DockerEngine } from './engine.js';
import { run, type RunOptions, type RunResult } from './run.js';
import { ensureDockerTools, type DockerTools } from './tools.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml');
const OVERRIDE_FILE = join(REPO_ROOT, 'test', 'compose', 'compose.test.yml');

export type ComposeFlavour = 'v2' | 'v1';

export interface ComposeHarness {
  tools: DockerTools;
  engine: DockerEngine;
  flavour: ComposeFlavour;
  docker(args: string[], options?: RunOptions): Promise<RunResult>;
  compose(args: string[], options?: RunOptions): Promise<RunResult>;
  stop(): Promise<void>;
}

export function log(line: string): void {
  process.stderr.write(`[compose-e2e ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function flavourFromEnvironment(): ComposeFlavour | undefined {
  const wanted = process.env.COMPOSE_FLAVOUR;
  if (!wanted) return undefined;
  if (wanted === 'v1' || wanted === 'v2') return wanted;
  throw new Error(`COMPOSE_FLAVOUR must be v1 or v2, not ${JSON.stringify(wanted)}`);
}

/** The Compose to use: `flavour`, else COMPOSE_FLAVOUR (v1 or v2) from the environment, else v2 when available. */
export async function startComposeHarness(options: { project: string; env: NodeJS.ProcessEnv; flavour?: ComposeFlavour }): Promise<ComposeHarness> {
  const tools = await ensureDockerTools(log);
  const flavour: ComposeFlavour = options.flavour ?? flavourFromEnvironment() ?? (tools.composeV2Config ? 'v2' : 'v1');
  if (flavour === 'v2' && !tools.composeV2Config) throw new Error('Compose v2 (`docker compose`) is not available');
  if (flavour === 'v1' && !tools.composeV1) throw new Error('docker-compose 1.29 is not available');
  const engine = await startDockerEngine({ docker: tools.docker, dockerConfig: tools.composeV2Config, log });
  const env = { ...engine.env, ...options.env, COMPOSE_PROJECT_NAME: options.project };

  const docker = (args: string[], runOptions: RunOptions = {}) => run(tools.docker, args, { env, cwd: REPO_ROOT, ...runOptions });
  const compose = (args: string[], runOptions: RunOptions = {}) => {
    const files = ['-f', COMPOSE_FILE, '-f', OVERRIDE_FILE, '-p', options.project];
    return flavour === 'v2'
      ? run(tools.docker, ['compose', ...files, ...args], { env, cwd: REPO_ROOT, ...runOptions })
      : // --compatibility: 1.29 then honours `deploy.replicas` as Compose v2 does (5 nodes, no websocket-client).
        run(tools.composeV1!, ['--compatibility', ...files, ...args], { env, cwd: REPO_ROOT, ...runOptions });
  };

  try {
    for (const image of baseImagesOf(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'))) {
      await ensureBaseImage({ docker: tools.docker, env, name: image, log });
    }
  } catch (error) {
    await engine.stop();
    throw error;
  }

  const stop = async () => {
    try {
      await compose(['down', '--volumes', '--remove-orphans', '--timeout', '10'], { allowFailure: true, timeoutMs: 120_000 });
    } finally {
      await engine.stop();
    }
  };
  return { tools, engine, flavour, docker, compose, stop };
}
