/**
 * Docker Swarm on the compose harness's private engine: a one-machine swarm, the project's
 * docker-compose.yml deployed as a stack, the running containers of one of its services, and a
 * teardown that waits until no container or network of the stack is left before leaving the swarm.
 */
import { freePort } from './freePort.js';
import { COMPOSE_FILE, type ComposeHarness } from './harness.js';
import { waitFor, type RunResult } from './run.js';

export interface SwarmStack {
  /** Stack name: services are `<name>_relay`, `<name>_node`, `<name>_inspector`. */
  name: string;
  deploy(): Promise<RunResult>;
  /** Full ids of the service's running task containers. */
  containers(service: string): Promise<string[]>;
  scale(service: string, replicas: number): Promise<void>;
  /** `docker stack rm`, then waits until the stack's containers and networks are gone. */
  remove(timeoutMs: number): Promise<void>;
  /** `docker swarm leave --force`; returns the engine's swarm state afterwards ("inactive"). */
  leave(): Promise<string>;
}

/**
 * `docker swarm init` on loopback: no other machine joins this swarm, so its management port
 * (a free one, not 2377, so it cannot collide with a swarm already on this host) and its
 * advertised address stay on 127.0.0.1.
 */
export async function initSwarm(harness: ComposeHarness, name: string): Promise<SwarmStack> {
  const port = await freePort();
  await harness.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', `127.0.0.1:${port}`], { timeoutMs: 120_000 });

  const containers = async (service: string): Promise<string[]> => {
    const { stdout } = await harness.docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${name}_${service}`]);
    return stdout.split('\n').map((line) => line.trim()).filter(Boolean);
  };
  const leftOver = async (): Promise<string> => {
    const stackLabel = `label=com.docker.stack.namespace=${name}`;
    const tasks = await harness.docker(['ps', '-aq', '--filter', stackLabel]);
    const networks = await harness.docker(['network', 'ls', '-q', '--filter', stackLabel]);
    return `${tasks.stdout}${networks.stdout}`.trim();
  };

  return {
    name,
    // The image is a local tag no registry knows: `never` keeps the CLI from asking one for its digest.
    deploy: () => harness.docker(['stack', 'deploy', '--resolve-image', 'never', '-c', COMPOSE_FILE, name], { timeoutMs: 300_000 }),
    containers,
    scale: async (service, replicas) => {
      await harness.docker(['service', 'scale', '--detach', `${name}_${service}=${replicas}`], { timeoutMs: 120_000 });
    },
    remove: async (timeoutMs) => {
      await harness.docker(['stack', 'rm', name], { timeoutMs: 120_000 });
      // `stack rm` returns before the tasks stop and the overlay network goes; leaving the swarm
      // meanwhile would strand them.
      await waitFor(async () => ((await leftOver()) === '' ? true : undefined), `stack ${name} to be gone`, { timeoutMs, intervalMs: 1_000 });
    },
    leave: async () => {
      await harness.docker(['swarm', 'leave', '--force'], { timeoutMs: 120_000 });
      return (await harness.docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim();
    },
  };
}
