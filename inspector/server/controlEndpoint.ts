/**
 * POST /api/control {action, id?, rank?}: the page's buttons. Carried out by the RingControl that
 * `ringleader up` passed in; refused with a clear JSON error when there is none, when the admin
 * token (RING_TOKEN) is missing or wrong, or when the request is malformed.
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
const NODE_ACTIONS = new Set<ControlAction>(['crash', 'freeze', 'unfreeze', 'startElection']);
const RING_ACTIONS = new Set<ControlAction>(['addNode', 'restartRelay']);

export interface ControlContext {
  control: RingControl | undefined;
  token: string;
  logger: Logger;
  model: RingModel;
}

export async function handleControl(request: IncomingMessage, response: ServerResponse, { control, token, logger, model }: ControlContext): Promise<void> {
  if (request.method !== 'POST') return sendJson(response, 405, { error: 'use POST' });
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

  logger.info({ action, id, rank }, 'control requested from the inspector');
  model.controlled(action, id as string | undefined);
  model.note('control', `control: ${action}${id ? ` ${String(id)}` : ''}`, id as string | undefined);
  try {
    switch (action) {
      case 'crash':
        await control.crash(id as string);
        break;
      case 'freeze':
        await control.freeze(id as string);
        break;
      case 'unfreeze':
        await control.unfreeze(id as string);
        break;
      case 'startElection':
        await control.startElection(id as string);
        break;
      case 'addNode':
        await control.addNode(rank === undefined ? undefined : { rank: rank as number });
        break;
      case 'restartRelay':
        await control.restartRelay();
        break;
    }
  } catch (error) {
    const message = (error as Error).message;
    logger.warn({ action, id, err: message }, 'control failed');
    model.note('error', `control ${action}${id ? ` ${String(id)}` : ''} failed: ${message}`, id as string | undefined);
    return sendJson(response, 409, { error: message });
  }
  sendJson(response, 200, { ok: true, action, ...(id === undefined ? {} : { id }) });
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
