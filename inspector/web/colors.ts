/** One colour per node state, shared by the ring, the table and the legend (matches app.css). */
import type { NodeDisplayState } from '../server/messages.js';

export const STATE_COLORS: Record<NodeDisplayState, string> = {
  leader: '#e0b000',
  follower: '#4c8bf5',
  checking: '#36b3c9',
  awaiting: '#b58ad8',
  electing: '#f29d38',
  disconnected: '#9aa1ad',
  route: '#8c95a5',
  frozen: '#7fc6e8',
  crashed: '#d9534f',
  exited: '#b0b5bf',
  member: '#8fa3bf',
  unknown: '#c4c8d0',
};

export const FRAME_COLORS: Record<string, string> = {
  election: '#f29d38',
  newLeader: '#e0b000',
  checkLeader: '#7d8799',
  answerLeader: '#3aa35b',
};

export const LEGEND_STATES: NodeDisplayState[] = ['follower', 'checking', 'awaiting', 'electing', 'leader', 'disconnected', 'frozen', 'crashed', 'member'];
