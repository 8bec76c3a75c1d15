/**
 * POST /api/control {action, id?, rank?}: the page's buttons. Carried out by the RingControl that
 * `ringleader up` passed in; refused with a clear JSON error when there is none, when the body is
 * not `application/json` (a cross-site form can only send text/plain, urlencoded or multipart),
 * when the admin token (RING_TOKEN) is missing or wrong, when the request is malformed, or when
 * `addNode` would take the ring past MAX_RING_NODES. (Cross-origin requests never get here:
 * index.ts refuses them first.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isValidClientId } from '../../machines/protocol.js';
import type { Logger } from '../../runtime/logger.js';
import type { RingControl } from '../../runtime/control.js';
import { presentedToken, tokenMatches } from '../../runtime/token.js';
import { sendJson } from './http.js';
import type { ControlAction } from './messages.js';
import type { RingModel } from './ringModel.js';

const BODY_LIMIT = 4096;
/** The most node processes `addNode` may bring the ring to: the same as `up --nodes` allows. */
export const MAX_RING_NODES = 200;
const NODE_ACTIONS = new Set<ControlAction>(['crash', 'freeze', 'unfreeze', 'startElection']);
const RING_ACTIONS = new Set<ControlAction>(['addNode', 'restartRelay']);

export interface ControlContext {
  control: RingControl | undefined;
  token: string;
  logger: Logger;
  model: RingModel;
  /** Defaults to MAX_RING_NODES. */
  maxNodes?: number | undefined;
}

export type ControlHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

export function controlEndpoint(context: ControlContext): ControlHandler {
  // One addNode at a time, so each sees the count the previous one left, whatever the RingControl.
  let adding: Promise<unknown> = Promise.resolve();
  const serialised = <T>(work: () => Promise<T>): Promise<T> => {
    const next = adding.then(work, work);
    adding = next.catch(() => {});
    return next;
  };
  return (request, response) => handleControl(request, response, context, serialised);
}

async function handleControl(
  request: IncomingMessage,
  response: ServerResponse,
  { control, token, logger, model, maxNodes = MAX_RING_NODES }: ControlContext,
  serialised: <T>(work: () => Promise<T>) => Promise<T>,
): Promise<void> {
  if (request.method !== 'POST') return sendJson(response, 405, { error: 'use POST' });
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/json') return sendJson(response, 415, { error: 'the body must be sent as Content-Type: application/json' });
  if (!control) return sendJson(response, 404, { error: 'this inspector does not own the ring (start it with "ringleader up" to get controls)' });
  if (token && !tokenMatches(presentedToken(request), token)) {
    logger.warn({ remote: request.socket.remoteAddress }, 'control refused: missing or wrong admin token');
    return sendJson(response, 401, { error: 'wrong or missing admin token (RING_TOKEN)' });
  }
  let body: { action?: unknown; id?: unknown; rank?: unknown };
  try {
    body = JSON.parse(await readBody(request));
    if (typeof body !== 'object' || body === null) throw new Error('not an object');
  } catch (error) {
    return sendJson(response, 400, { error: `body must be a JSON object {action, id?, rank?}: ${(error as Error).message}` });
  }
  const action = body.action as ControlAction;
  if (!NODE_ACTIONS.has(action) && !RING_ACTIONS.has(action)) {
    return sendJson(response, 400, { error: `unknown action ${JSON.stringify(body.action)}; one of ${[...NODE_ACTIONS, ...RING_ACTIONS].join(', ')}` });
  }
  const id = NODE_ACTIONS.has(action) ? body.id : undefined;
  if (NODE_ACTIONS.has(action) && !isValidClientId(id)) return sendJson(response, 400, { error: `action ${action} needs the "id" of a node` });
  const rank = body.rank;
  if (rank !== undefined && (typeof rank !== 'number' || !Number.isSafeInteger(rank) || rank < 0)) {
    return sendJson(response, 400, { error: '"rank" must be a non-negative integer' });
  }

  const outcome =
    action === 'addNode'
      ? await serialised(async () => {
          const count = control.nodeCount();
          if (count < maxNodes) return carryOut(control, logger, model, action, undefined, rank as number | undefined);
          logger.warn({ action, nodes: count, max: maxNodes }, 'control refused: the ring is at its node limit');
          return { status: 409, body: { error: `the ring already has ${count} node processes, the most this inspector adds (${maxNodes})` } };
        })
      : await carryOut(control, logger, model, action, id as string | undefined, undefined);
  sendJson(response, outcome.status, outcome.body);
}

async function carryOut(
  control: RingControl,
  logger: Logger,
  model: RingModel,
  action: ControlAction,
  id: string | undefined,
  rank: number | undefined,
): Promise<{ status: number; body: unknown }> {
  logger.info({ action, id, rank }, 'control requested from the inspector');
  model.controlled(action, id);
  model.note('control', `control: ${action}${id ? ` ${id}` : ''}`, id);
  try {
    switch (action) {
      case 'crash':
        await control.crash(id!);
        break;
      case 'freeze':
        await control.freeze(id!);
        break;
      case 'unfreeze':
        await control.unfreeze(id!);
        break;
      case 'startElection':
        await control.startElection(id!);
        break;
      case 'addNode':
        await control.addNode(rank === undefined ? undefined : { rank });
        break;
      case 'restartRelay':
        await control.restartRelay();
        break;
    }
  } catch (error) {
    const message = (error as Error).message;
    logger.warn({ action, id, err: message }, 'control failed');
    model.controlFailed(action, id);
    model.note('error', `control ${action}${id ? ` ${id}` : ''} failed: ${message}`, id);
    return { status: 409, body: { error: message } };
  }
  return { status: 200, body: { ok: true, action, ...(id === undefined ? {} : { id }) } };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        reject(new Error(`body over ${BODY_LIMIT} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
    // A client that hangs up mid-body never sends 'end'; without this the handler waits forever.
    request.on('close', () => {
      if (!request.complete) reject(new Error('client closed the connection before the body ended'));
    });
  });
}
