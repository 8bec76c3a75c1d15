/**
 * The selected node's statechart, drawn from the machine definition in this bundle
 * (machines/nodeMachine.ts), so it is always the chart the nodes run. Top-level states sit in
 * a row; a compound state holds its children in a grid; arrows join atomic states; the active
 * state is highlighted and its transitions (own and inherited) are listed with their guards.
 */
import type { AnyStateMachine } from 'xstate';
import type { NodeView } from '../server/messages.js';
import { clock, el, svg } from './dom.js';

interface StateNodeLike {
  key: string;
  id: string;
  path: string[];
  states: Record<string, StateNodeLike>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
  parent?: StateNodeLike;
}
interface TransitionLike { eventType: string; target?: StateNodeLike[]; guard?: unknown; reenter?: boolean }
interface Box { x: number; y: number; w: number; h: number; node: StateNodeLike }

const ATOMIC = { w: 100, h: 34 };
const GAP = 22;
const PAD = 24;
const COLUMNS = 3;

export class StatechartPanel {
  private boxes = new Map<string, Box>();
  private groups = new Map<string, SVGGElement>();
  private edges: { from: string; to: string; path: SVGPathElement }[] = [];

  constructor(
    machine: AnyStateMachine,
    private readonly chart: SVGSVGElement,
    private readonly transitionsList: HTMLElement,
    private readonly recentList: HTMLElement,
  ) {
    const root = machine.root as unknown as StateNodeLike;
    this.layout(root);
  }

  /** `active`: whether the node's machine still runs (a crashed node's last state is not highlighted). */
  show(node: NodeView | null, active: boolean): void {
    const activePath = node && active ? node.statePath.split('.') : [];
    const activeIds = new Set<string>();
    for (let depth = 1; depth <= activePath.length; depth += 1) activeIds.add(['node', ...activePath.slice(0, depth)].join('.'));
    for (const [id, group] of this.groups) group.classList.toggle('active', activeIds.has(id));
    const leafId = ['node', ...activePath].join('.');
    for (const edge of this.edges) edge.path.classList.toggle('hot', edge.from === leafId);

    this.transitionsList.replaceChildren();
    const leaf = this.boxes.get(leafId)?.node;
    if (leaf) {
      for (let state: StateNodeLike | undefined = leaf; state; state = state.parent) {
        const inherited = state !== leaf;
        for (const transition of [...(state.always ?? []), ...[...state.transitions.values()].flat()]) {
          const item = el('li', inherited ? { class: 'inherited' } : {}, describeTransition(transition, inherited ? state.key : null));
          this.transitionsList.append(item);
        }
      }
    }
    this.recentList.replaceChildren(
      ...(node?.recent ?? [])
        .slice()
        .reverse()
        .map((entry) => {
          const item = el('li');
          item.append(el('time', {}, clock(entry.at)), document.createTextNode(`${entry.event}${entry.summary ? ` (${entry.summary})` : ''} → ${entry.state}`));
          return item;
        }),
    );
  }

  private layout(root: StateNodeLike): void {
    const defs = svg('defs');
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#9aa1ad' }));
    defs.append(marker);
    const edgeLayer = svg('g');
    const boxLayer = svg('g');
    let x = 8;
    let height = 0;
    for (const state of Object.values(root.states)) {
      const size = this.place(state, x, 8, boxLayer);
      x += size.w + GAP * 1.5;
      height = Math.max(height, size.h);
    }
    this.chart.setAttribute('viewBox', `0 0 ${x} ${height + 16}`);
    // Arrows between distinct atomic states only; inherited transitions are listed, not drawn.
    for (const box of this.boxes.values()) {
      if (Object.keys(box.node.states).length > 0) continue;
      const transitions = [...(box.node.always ?? []), ...[...box.node.transitions.values()].flat()];
      const targets = new Set(transitions.flatMap((transition) => transition.target ?? []).map((target) => target.id));
      for (const targetId of targets) {
        const target = this.boxes.get(targetId);
        if (!target || targetId === box.node.id) continue;
        const path = svg('path', { class: 'edge', d: connect(box, target) });
        this.edges.push({ from: box.node.id, to: targetId, path });
        edgeLayer.append(path);
      }
    }
    this.chart.replaceChildren(defs, boxLayer, edgeLayer);
  }

  private place(state: StateNodeLike, x: number, y: number, layer: SVGGElement): { w: number; h: number } {
    const children = Object.values(state.states);
    const group = svg('g', { class: `state${children.length ? ' compound' : ''}`, 'data-state': state.id });
    layer.append(group);
    this.groups.set(state.id, group);
    if (children.length === 0) {
      const box = { x, y: y + 40, w: ATOMIC.w, h: ATOMIC.h, node: state };
      this.boxes.set(state.id, box);
      group.append(svg('rect', { x: box.x, y: box.y, width: box.w, height: box.h }), svg('text', { x: box.x + box.w / 2, y: box.y + 22, 'text-anchor': 'middle' }, state.key));
      return { w: box.w, h: box.h + 40 };
    }
    const columns = Math.min(COLUMNS, children.length);
    const rows = Math.ceil(children.length / columns);
    const w = PAD * 2 + columns * ATOMIC.w + (columns - 1) * GAP * 1.6;
    const h = 30 + rows * ATOMIC.h + (rows - 1) * GAP * 1.4 + PAD;
    const rect = svg('rect', { x, y, width: w, height: h });
    group.append(rect, svg('text', { x: x + 10, y: y + 18, 'font-weight': 600 }, state.key));
    this.boxes.set(state.id, { x, y, w, h, node: state });
    children.forEach((child, index) => {
      const column = index % columns;
      const row = Math.floor(index / columns);
      const cx = x + PAD + column * (ATOMIC.w + GAP * 1.6);
      const cy = y + 30 + row * (ATOMIC.h + GAP * 1.4) - 40;
      this.place(child, cx, cy, group);
    });
    return { w, h };
  }
}

function describeTransition(transition: TransitionLike, from: string | null): string {
  const event = transition.eventType === '' ? '(always)' : transition.eventType.replace(/^xstate\.after\.([^.]+)\..*$/, 'after $1');
  const guard = typeof transition.guard === 'string' ? transition.guard : (transition.guard as { type?: string } | undefined)?.type;
  const target = transition.target?.map((state) => state.key).join(', ') ?? '(stays)';
  return `${event}${guard ? ` [${guard}]` : ''} → ${target}${from ? `  (on ${from})` : ''}`;
}

/** A straight arrow between the borders of two boxes, bent a little so opposite arrows do not overlap. */
function connect(a: Box, b: Box): string {
  const ax = a.x + a.w / 2;
  const ay = a.y + a.h / 2;
  const bx = b.x + b.w / 2;
  const by = b.y + b.h / 2;
  const start = border(a, bx, by);
  const end = border(b, ax, ay);
  const mx = (start.x + end.x) / 2 + (end.y - start.y) * 0.12;
  const my = (start.y + end.y) / 2 - (end.x - start.x) * 0.12;
  return `M ${start.x} ${start.y} Q ${mx} ${my} ${end.x} ${end.y}`;
}

function border(box: Box, towardX: number, towardY: number): { x: number; y: number } {
  const cx = box.x + box.w / 2;
  const cy = box.y + box.h / 2;
  const dx = towardX - cx;
  const dy = towardY - cy;
  const scale = Math.min(Math.abs(box.w / 2 / (dx || 1e-9)), Math.abs(box.h / 2 / (dy || 1e-9)));
  return { x: cx + dx * scale, y: cy + dy * scale };
}
