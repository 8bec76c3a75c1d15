/**
 * A private Docker engine for trying the compose commands by hand on a machine without one:
 *
 *   npx tsx test/compose/dockerd.ts          # installs what is missing, starts dockerd, imports
 *                                            # the base image, prints the exports, waits
 *   (in another shell, paste the exports)    # then: docker compose up --build --scale node=5 ...
 *   Ctrl-C (or SIGTERM)                      # stops dockerd and removes its temp folder
 *
 * The same harness the compose test uses; builds still need `--network host` on such a machine
 * (add `-f test/compose/compose.test.yml` to the compose commands).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseImagesOf, ensureBaseImage } from './baseImage.js';
import { startDockerEngine } from './engine.js';
import { log, REPO_ROOT } from './harness.js';
import { ensureDockerTools } from './tools.js';

const tools = await ensureDockerTools(log);
const engine = await startDockerEngine({ docker: tools.docker, dockerConfig: tools.composeV2Config, log });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await engine.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
try {
  for (const image of baseImagesOf(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'))) {
    await ensureBaseImage({ docker: tools.docker, env: engine.env, name: image, log });
  }
} catch (error) {
  log(`base image: ${(error as Error).message}`);
  await stop();
}
process.stdout.write(
  [
    `export DOCKER_HOST=${engine.env.DOCKER_HOST}`,
    ...(tools.composeV2Config ? [`export DOCKER_CONFIG=${tools.composeV2Config}`] : []),
    `# compose: docker compose -f docker-compose.yml -f test/compose/compose.test.yml up --build --scale node=5`,
    `# Ctrl-C here stops the engine (log: ${engine.logFile})`,
    '',
  ].join('\n'),
);
// Keep the process (and so the engine) alive until a signal arrives.
setInterval(() => undefined, 1 << 30);
