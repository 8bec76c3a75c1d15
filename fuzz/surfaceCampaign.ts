/**
 * The surface campaign: batches of hostile HTTP requests (fuzz/surfaceRequests.ts) at the relay's
 * and the inspector's every endpoint, a few at a time over raw sockets; after each batch the
 * relay and the inspector must still answer /healthz and a fresh ring on the relay must still
 * elect. A request with no answer at all is a failure, and so is any answer 500 or above but
 * 503 (a full relay, a page not built): the servers answer 500 only when something threw.
 */
import { Rng } from '../sim/rng.js';
import { rawRequest } from './rawRequest.js';
import { ringElects } from './ringElects.js';
import { surfaceRequest, type Server } from './surfaceRequests.js';
import { Tally } from './tally.js';

export interface SurfaceOptions {
  seed: number;
  /** Requests in all, split between the relay (about three quarters) and the inspector. */
  requests: number;
  batches: number;
  /** Requests in flight at once. */
  concurrency: number;
  relay: { port: number; url: string };
  inspector: { port: number } | null;
}

export interface SurfaceResult {
  /** Requests sent, by server, kind and endpoint. */
  sent: Tally;
  /** Answers by server and status (`relay:400`), or `relay:none` when the socket closed (or the time ran out) without one. */
  answers: Tally;
  batches: number;
  /** What went wrong: no answer, an answer 5xx (not 503), a server that stopped answering, a ring that did not elect. */
  failures: string[];
  elapsedMs: number;
}

/** Long enough for a busy machine; a server that takes longer to answer one request counts as `none`. */
const ANSWER_TIMEOUT_MS = 10_000;

export async function runSurfaceCampaign(options: SurfaceOptions, say: (line: string) => void = () => {}): Promise<SurfaceResult> {
  const rng = new Rng(options.seed);
  const sent = new Tally();
  const answers = new Tally();
  const failures: string[] = [];
  const started = Date.now();
  const perBatch = Math.ceil(options.requests / options.batches);
  let remaining = options.requests;
  for (let batch = 1; batch <= options.batches && remaining > 0; batch += 1) {
    const requests = Array.from({ length: Math.min(perBatch, remaining) }, () => {
      const server: Server = options.inspector === null || rng.chance(0.75) ? 'relay' : 'inspector';
      return surfaceRequest(rng, server, server === 'relay' ? options.relay.port : options.inspector!.port);
    });
    remaining -= requests.length;
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const request = requests[next++]!;
        sent.add(request.kind);
        const port = request.server === 'relay' ? options.relay.port : options.inspector!.port;
        const answer = await rawRequest(port, request.bytes, { timeoutMs: ANSWER_TIMEOUT_MS });
        answers.add(`${request.server}:${answer.status ?? 'none'}`);
        const wrong = answer.status === null ? 'got no answer' : answer.status >= 500 && answer.status !== 503 ? `answered ${answer.status}` : null;
        if (wrong !== null && failures.length < 20) failures.push(`${request.kind} ${wrong}: ${JSON.stringify(request.bytes.toString('latin1').slice(0, 300))}`);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const alive = await afterBatch(options, batch);
    failures.push(...alive);
    say(`  surface batch ${batch}/${options.batches}: ${sent.total} requests sent; ${alive.length === 0 ? 'relay and inspector answer, a fresh ring elected' : alive.join('; ')}`);
    if (alive.length > 0) return { sent, answers, batches: batch, failures, elapsedMs: Date.now() - started };
  }
  return { sent, answers, batches: options.batches, failures, elapsedMs: Date.now() - started };
}

/** After a batch: both servers answer /healthz, and two fresh nodes elect on a ring of their own. */
async function afterBatch(options: SurfaceOptions, batch: number): Promise<string[]> {
  const problems: string[] = [];
  const healthy = async (name: Server, port: number) => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
      if (!response.ok) problems.push(`after batch ${batch}: the ${name}'s /healthz answered ${response.status}`);
    } catch (error) {
      problems.push(`after batch ${batch}: the ${name} did not answer /healthz (${(error as Error).message})`);
    }
  };
  await healthy('relay', options.relay.port);
  if (options.inspector !== null) await healthy('inspector', options.inspector.port);
  if (problems.length > 0) return problems;
  const why = await ringElects(options.relay.url, `surface-${batch}`);
  return why === null ? [] : [`after batch ${batch}: ${why}`];
}
