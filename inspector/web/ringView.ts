/**
 * The ring as a circle in ring order, and the frames travelling on it. Frames sent to `next`
 * ride the arc to the next member; broadcasts and direct frames cross the circle. Animation
 * runs on a clock that the speed control scales and the pause stops.
 */
import type { FrameView, NodeView, RingState } from '../server/messages.js';
import { FRAME_COLORS, STATE_COLORS } from './colors.js';
import { setAttributes, setText, svg } from './dom.js';

const SIZE = 520;
const CENTER = SIZE / 2;
const RADIUS = 180;
const MARGIN = 48;
/** Wider at the sides: the state labels of the nodes left and right ("leader · term 12") run outwards. */
const SIDE_MARGIN = 100;
const NODE_RADIUS = 31;
/** How long a frame takes to travel at speed 1×. */
const FLIGHT_MS = 900;
const MAX_FLIGHTS = 300;

interface Point { x: number; y: number; angle: number }
interface NodeShapes {
  group: SVGGElement;
  halo: SVGCircleElement;
  body: SVGCircleElement;
  id: SVGTextElement;
  rank: SVGTextElement;
  crown: SVGTextElement;
  label: SVGTextElement;
  title: SVGTitleElement;
}
interface Flight { frame: FrameView; from: string; to: string; start: number; alongRing: boolean }

export class RingView {
  private positions = new Map<string, Point>();
  private nodeShapes = new Map<string, NodeShapes>();
  private flights: Flight[] = [];
  private clock = 0;
  private lastTick = performance.now();
  private nodesLayer: SVGGElement;
  private arcsLayer: SVGGElement;
  private flightsLayer: SVGGElement;
  private center: SVGGElement;
  speed = 1;
  paused = false;

  constructor(private readonly root: SVGSVGElement, private readonly onSelect: (key: string) => void) {
    this.arcsLayer = svg('g');
    this.center = svg('g');
    this.nodesLayer = svg('g');
    this.flightsLayer = svg('g');
    root.append(this.arcsLayer, this.center, this.nodesLayer, this.flightsLayer);
    // Margins beyond the circle for the state labels, which sit outside the nodes.
    root.setAttribute('viewBox', `${-SIDE_MARGIN} ${-MARGIN / 3} ${SIZE + 2 * SIDE_MARGIN} ${SIZE + (2 * MARGIN) / 3}`);
    const tick = (now: number) => {
      const elapsed = Math.min(now - this.lastTick, 100);
      this.lastTick = now;
      if (!this.paused) this.clock += elapsed * this.speed;
      this.drawFlights();
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  render(state: RingState, selected: string | null): void {
    const nodes = state.nodes;
    const count = Math.max(nodes.length, 1);
    this.positions.clear();
    nodes.forEach((node, index) => {
      const angle = -Math.PI / 2 + (index * 2 * Math.PI) / count;
      this.positions.set(node.id ?? node.key, { x: CENTER + RADIUS * Math.cos(angle), y: CENTER + RADIUS * Math.sin(angle), angle });
    });
    this.drawArcs(nodes);
    this.drawCenter(state);
    const groups = nodes.map((node) => this.drawNode(node, node.key === selected, state));
    const keys = new Set(nodes.map((node) => node.key));
    for (const key of this.nodeShapes.keys()) if (!keys.has(key)) this.nodeShapes.delete(key);
    // Re-attach only when the set or order changed, so a click in progress is never interrupted.
    const current = Array.from(this.nodesLayer.children);
    if (current.length !== groups.length || groups.some((group, index) => current[index] !== group)) this.nodesLayer.replaceChildren(...groups);
  }

  launch(frame: FrameView): void {
    for (const to of frame.to) {
      const alongRing = frame.target === 'next';
      this.flights.push({ frame, from: frame.from, to, start: this.clock, alongRing });
    }
    if (this.flights.length > MAX_FLIGHTS) this.flights.splice(0, this.flights.length - MAX_FLIGHTS);
  }

  private drawArcs(nodes: NodeView[]): void {
    const members = nodes.filter((node) => node.member && node.id !== null);
    const arcs: SVGElement[] = [svg('circle', { cx: CENTER, cy: CENTER, r: RADIUS, fill: 'none', stroke: '#e4e7ec', 'stroke-width': 2 })];
    if (members.length > 1) {
      members.forEach((node, index) => {
        const next = members[(index + 1) % members.length]!;
        const a = this.positions.get(node.id!);
        const b = this.positions.get(next.id!);
        if (!a || !b) return;
        arcs.push(svg('path', { d: arcPath(a, b), fill: 'none', stroke: '#b9c1cf', 'stroke-width': 2, 'marker-end': 'url(#ring-arrow)' }));
      });
    }
    const defs = svg('defs');
    const marker = svg('marker', { id: 'ring-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#b9c1cf' }));
    defs.append(marker);
    this.arcsLayer.replaceChildren(defs, ...arcs);
  }

  private drawCenter(state: RingState): void {
    const leader = state.leader;
    const lines: SVGElement[] = [];
    if (leader) {
      lines.push(svg('text', { x: CENTER, y: CENTER - 14, 'text-anchor': 'middle', class: 'ring-center', 'data-testid': 'ring-leader' }, `leader ${leader.id} (rank ${leader.rank})`));
      lines.push(svg('text', { x: CENTER, y: CENTER + 8, 'text-anchor': 'middle', class: 'ring-center' }, `term ${leader.term}`));
    } else {
      lines.push(svg('text', { x: CENTER, y: CENTER - 4, 'text-anchor': 'middle', class: 'ring-center', 'data-testid': 'ring-leader' }, 'no leader'));
    }
    const members = state.relay.members.length;
    const source = state.relay.source === 'inspection' ? 'relay stream' : state.relay.source === 'status' ? 'relay /status' : 'nodes only';
    lines.push(svg('text', { x: CENTER, y: CENTER + 30, 'text-anchor': 'middle', class: 'ring-center small' }, `${members} in ring · ${source}${state.relay.connected ? '' : ' (relay unreachable)'}`));
    this.center.replaceChildren(...lines);
  }

  /** Updates the node's shapes in place: a node re-created on every heartbeat would swallow clicks. */
  private drawNode(node: NodeView, selected: boolean, state: RingState): SVGGElement {
    const key = node.key;
    let shapes = this.nodeShapes.get(key);
    if (!shapes) {
      const group = svg('g');
      const halo = svg('circle', { r: NODE_RADIUS + 7, fill: 'none', stroke: '#e0b000', 'stroke-width': 4 });
      const body = svg('circle', { class: 'body', r: NODE_RADIUS });
      const id = svg('text', { class: 'id', 'text-anchor': 'middle', y: -2 });
      const rank = svg('text', { class: 'rank', 'text-anchor': 'middle', y: 14 });
      const crown = svg('text', { 'text-anchor': 'middle', y: -NODE_RADIUS - 12, 'font-size': 20 }, '♛');
      const label = svg('text', { class: 'state-label' });
      const title = svg('title');
      group.append(title, halo, body, id, rank, crown, label);
      group.addEventListener('click', () => this.onSelect(key));
      shapes = { group, halo, body, id, rank, crown, label, title };
      this.nodeShapes.set(key, shapes);
    }
    const point = this.positions.get(node.id ?? node.key)!;
    const isLeader = node.state === 'leader' || (state.leader !== null && node.id === state.leader.id && node.member);
    const { group, halo, body, id, rank, crown, label, title } = shapes;
    setAttributes(group, { class: `ring-node${selected ? ' selected' : ''}`, 'data-node': node.id ?? '', 'data-state': node.state, transform: `translate(${point.x} ${point.y})` });
    setAttributes(halo, { visibility: isLeader ? 'visible' : 'hidden' });
    setAttributes(crown, { visibility: isLeader ? 'visible' : 'hidden' });
    setAttributes(body, {
      fill: STATE_COLORS[node.state],
      opacity: node.member || node.state === 'frozen' ? 1 : 0.55,
      'stroke-dasharray': node.member ? 'none' : '5 4',
      stroke: node.member ? 'none' : '#666',
    });
    setText(id, node.id ?? '?');
    setText(rank, node.rank === null ? '' : String(node.rank));
    setText(title, `${node.id ?? '?'} · rank ${node.rank ?? '?'} · ${node.statePath} · term ${node.term ?? '?'}`);
    // State label outside the circle, away from the centre.
    const dx = Math.cos(point.angle) * (NODE_RADIUS + 16);
    const dy = Math.sin(point.angle) * (NODE_RADIUS + 16) + 4;
    const anchor = Math.abs(Math.cos(point.angle)) < 0.3 ? 'middle' : Math.cos(point.angle) > 0 ? 'start' : 'end';
    setAttributes(label, { x: dx, y: isLeader && dy < 0 ? dy - 18 : dy, 'text-anchor': anchor });
    // A member known only from the relay's /status leads when the relay says so.
    setText(label, node.state === 'leader' || (node.state === 'member' && isLeader) ? `leader · term ${node.term ?? '?'}` : node.state);
    return group;
  }

  private drawFlights(): void {
    const shapes: SVGElement[] = [];
    const duration = FLIGHT_MS;
    this.flights = this.flights.filter((flight) => this.clock - flight.start < duration);
    for (const flight of this.flights) {
      const a = this.positions.get(flight.from);
      const b = this.positions.get(flight.to);
      if (!a || !b) continue;
      const t = Math.max(0, (this.clock - flight.start) / duration);
      const p = flight.alongRing ? pointOnArc(a, b, t) : { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
      const color = FRAME_COLORS[flight.frame.kind] ?? '#555';
      const big = flight.frame.kind === 'election' || flight.frame.kind === 'newLeader';
      shapes.push(svg('circle', { cx: p.x, cy: p.y, r: big ? 8 : 5, fill: color, stroke: '#fff', 'stroke-width': 1.5, 'data-frame': flight.frame.kind }));
      if (flight.frame.kind === 'election' && flight.frame.eligible) {
        shapes.push(svg('text', { x: p.x + 10, y: p.y - 8, class: 'frame-label' }, `[${flight.frame.eligible.map((entry) => entry.id).join(' ')}]`));
      } else if (flight.frame.kind === 'newLeader' && flight.frame.leaderId) {
        shapes.push(svg('text', { x: p.x + 10, y: p.y - 8, class: 'frame-label' }, `♛ ${flight.frame.leaderId}`));
      }
    }
    this.flightsLayer.replaceChildren(...shapes);
  }
}

/** The clockwise arc of the ring circle from a to b. */
function arcPath(a: Point, b: Point): string {
  const start = offsetAlong(a, NODE_RADIUS + 4, 1);
  const end = offsetAlong(b, NODE_RADIUS + 8, -1);
  let sweep = end.angle - start.angle;
  while (sweep <= 0) sweep += 2 * Math.PI;
  return `M ${start.x} ${start.y} A ${RADIUS} ${RADIUS} 0 ${sweep > Math.PI ? 1 : 0} 1 ${end.x} ${end.y}`;
}

function offsetAlong(point: Point, distance: number, direction: 1 | -1): Point {
  const angle = point.angle + (direction * distance) / RADIUS;
  return { x: CENTER + RADIUS * Math.cos(angle), y: CENTER + RADIUS * Math.sin(angle), angle };
}

function pointOnArc(a: Point, b: Point, t: number): { x: number; y: number } {
  let sweep = b.angle - a.angle;
  while (sweep <= 0) sweep += 2 * Math.PI;
  const angle = a.angle + sweep * t;
  return { x: CENTER + RADIUS * Math.cos(angle), y: CENTER + RADIUS * Math.sin(angle) };
}
