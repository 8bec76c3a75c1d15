/**
 * The inspector page in a real browser (headless Chromium via playwright-core) on a real ring:
 * `ringleader up` (what `npm start` runs: a relay process, 5 node processes and the inspector),
 * the page shows its leader, a click crashes the leader, and the page then shows the new leader
 * and the election that chose it; a standalone `ringleader inspector` fed only by the relay's
 * /status (as under Docker Compose) shows the members and leader, and no controls; with a second
 * ring on the relay, the ring picker shows that ring's members and leader; the layout
 * holds at 800 px. Saves the page as <tmpdir>/ringleader-inspector.png, or as the tracked
 * docs/inspector.png when UPDATE_SCREENSHOT=1 is set. Needs `npm run build`.
 *
 * The browser is the headless Chromium that the @sparticuz/chromium devDependency ships inside
 * its npm package (unpacked to the temp folder on first use, about 2 s), so `npm ci` is all a
 * bare machine needs; CHROMIUM_PATH=/path/to/chromium uses another one instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinRing, type RingNode } from '../index.js';
import type { NodeView, RingState } from '../inspector/server/messages.js';
import { findWebRoot } from '../inspector/server/staticFiles.js';
import { startInspectorProcess, waitUntil, type InspectorProcess } from './inspectorHarness.js';
import { waitFor } from '../runtime/waitFor.js';

/** Flags that run Chromium headless as root, in a container, with no network beyond loopback. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function chromiumPath(): Promise<string> {
  const own = process.env.CHROMIUM_PATH;
  if (own) {
    if (!existsSync(own)) throw new Error(`CHROMIUM_PATH=${own} does not exist`);
    return own;
  }
  const { default: bundled } = await import('@sparticuz/chromium');
  return bundled.executablePath();
}
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'ringleader.js');
const NODES = 5;
/** Runs leave the tracked picture alone unless asked to refresh it. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1' ? join(ROOT, 'docs', 'inspector.png') : join(tmpdir(), 'ringleader-inspector.png');

let up: ChildProcess | undefined;
let upOutput = '';
let context: BrowserContext | undefined;
let profile: string | undefined;
let standalone: InspectorProcess | undefined;

afterAll(async () => {
  await context?.close().catch(() => {});
  await standalone?.stop();
  if (up && up.exitCode === null && up.signalCode === null) {
    const exited = new Promise((resolve) => up!.once('exit', resolve));
    up.kill('SIGINT'); // up stops its relay and nodes on SIGINT
    const deadline = setTimeout(() => {
      try {
        process.kill(-up!.pid!, 'SIGKILL'); // whatever is left of the group this test started
      } catch {}
    }, 20_000);
    await exited;
    clearTimeout(deadline);
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('inspector page in chromium, on a ring started by `ringleader up`', () => {
  let page: Page;
  let inspectorUrl: string;
  let relayUrl: string;
  const state = async (): Promise<RingState> => (await (await fetch(`${inspectorUrl}api/state`)).json()) as RingState;

  beforeAll(async () => {
    if (!existsSync(CLI) || findWebRoot() === null) throw new Error('not built: run "npm run build" first');
    const executablePath = await chromiumPath();
    up = spawn(process.execPath, [CLI, 'up', '--port', '0', '--inspector-port', '0', '--nodes', String(NODES)], {
      cwd: ROOT,
      detached: true, // its own process group, so afterAll can clean up even a wedged run
      env: { ...process.env, CHECK_INTERVAL_MS: '500', LEADER_TIMEOUT_MS: '2000', ELECTION_TIMEOUT_MS: '2000', RING_TOKEN: '', INSPECT_URL: '', LOG_PRETTY: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout!.on('data', (chunk) => (upOutput += String(chunk)));
    up.stderr!.on('data', (chunk) => (upOutput += String(chunk)));
    await waitUntil(() => /inspector\s+(http:\/\/\S+)/.test(upOutput) || up!.exitCode !== null, 30_000, 'up to print the inspector URL');
    const match = /inspector\s+(http:\/\/\S+)/.exec(upOutput);
    if (!match) throw new Error(`ringleader up did not start:\n${upOutput}`);
    inspectorUrl = match[1]!.endsWith('/') ? match[1]! : `${match[1]}/`;
    relayUrl = /relay\s+(ws:\/\/\S+)/.exec(upOutput)![1]!;
    await waitUntil(async () => {
      const now = await state();
      const live = now.nodes.filter((node) => node.member);
      return live.length === NODES && now.leader !== null && live.every((node) => node.leader?.id === now.leader!.id);
    }, 45_000, `all ${NODES} nodes to agree on a leader on the inspector`);

    profile = mkdtempSync(join(tmpdir(), 'ringleader-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, viewport: { width: 1400, height: 900 }, args: CHROMIUM_ARGS });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(inspectorUrl);
  });

  it('as under Docker Compose: a standalone inspector fed only by the relay\'s /status shows the members and the leader, and no controls', async () => {
    const before = await state();
    standalone = await startInspectorProcess(['--relay', relayUrl]);
    const view = await context!.newPage();
    try {
      await view.goto(standalone.url);
      await expect.poll(() => view.getByTestId('leader').textContent(), { timeout: 15_000 }).toBe(before.leader!.id);
      // It owns nothing: no ring buttons, no node buttons.
      expect(await view.locator('#ring-controls').isVisible()).toBe(false);
      // Every member, in ring order, with the leader's term.
      await expect.poll(() => view.locator('#ring [data-node]').count(), { timeout: 15_000 }).toBe(NODES);
      const members = before.nodes.filter((node) => node.member).map((node) => node.id);
      expect(await view.locator('#ring [data-node]').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-node')))).toEqual(members);
      expect(await view.locator('#ring').textContent()).toContain(`term ${before.leader!.term}`);
      expect(await view.locator('#nodes tbody tr').count()).toBe(NODES);
      expect(await view.locator('button[data-action]').evaluateAll((buttons) => buttons.filter((button) => (button as HTMLElement).offsetParent !== null).length)).toBe(0);
    } finally {
      await view.close();
    }
  });

  it('with a second ring on the relay, the picker offers it, and picking it shows its members and leader', async () => {
    const jobs: RingNode[] = [];
    const view = await context!.newPage();
    try {
      await view.goto(inspectorUrl);
      await expect.poll(() => view.locator('#ring [data-node]').count(), { timeout: 15_000 }).toBe(NODES);
      expect(await view.locator('#ring-box').isVisible(), 'one ring: no picker').toBe(false);
      for (const rank of [3, 4]) jobs.push(await joinRing({ relay: `${relayUrl}/rings/jobs`, rank, timing: { checkIntervalMs: 500, leaderTimeoutMs: 2000, electionTimeoutMs: 2000 } }));
      const jobsLeader = await waitFor(() => jobs.find((node) => node.isLeader() && jobs.every((other) => other.leader()?.id === node.id)), 'the jobs ring to elect', { timeoutMs: 30_000 });
      await expect.poll(() => view.locator('#ring-box').isVisible(), { timeout: 15_000 }).toBe(true);
      await view.getByTestId('ring-picker').selectOption('jobs');
      await expect.poll(() => view.getByTestId('leader').textContent(), { timeout: 15_000 }).toBe(jobsLeader.id);
      await expect.poll(() => view.locator('#ring [data-node]').evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-node'))), { timeout: 15_000 }).toEqual(jobs.map((node) => node.id));
      expect(await view.getByTestId('summary').textContent()).toContain('Ring jobs');
      expect(new URL(view.url()).searchParams.get('ring')).toBe('jobs');
      // Back to the default ring: its members again.
      await view.getByTestId('ring-picker').selectOption('default');
      await expect.poll(() => view.locator('#ring [data-node]').count(), { timeout: 15_000 }).toBe(NODES);
    } finally {
      await view.close();
      await Promise.all(jobs.map((node) => node.leave()));
    }
  });

  it('fits an 800 px wide window without panels running over', async () => {
    await expect.poll(() => page.locator('#ring [data-node]').count(), { timeout: 15_000 }).toBe(NODES);
    await page.setViewportSize({ width: 800, height: 900 });
    try {
      const overflow = await page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const boxes = Array.from(document.querySelectorAll<HTMLElement>('header, main > section, .panel, #ring, .table-scroll, .legend, .ring-controls'));
        const over = boxes.filter((box) => box.getBoundingClientRect().right > width + 1 || box.scrollWidth > box.clientWidth + 1);
        return { page: document.documentElement.scrollWidth - width, over: over.map((box) => box.id || box.className || box.tagName) };
      });
      expect(overflow).toEqual({ page: 0, over: [] });
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it('shows the leader, and after a click on crash, the new leader and the election that chose it', async () => {
    const before = await state();
    const leader = before.leader!.id;
    const leaderText = page.getByTestId('leader');
    await expect.poll(() => leaderText.textContent(), { timeout: 15_000 }).toBe(leader);
    await expect.poll(() => page.locator('#ring [data-node]').count(), { timeout: 15_000 }).toBe(NODES);
    await expect.poll(() => page.locator(`tr[data-node="${leader}"] [data-testid="state"]`).textContent(), { timeout: 15_000 }).toBe('leader');

    // The survivor with the highest rank must win the election that follows the crash.
    const survivors = before.nodes.filter((node): node is NodeView & { id: string; rank: number } => node.member && node.id !== leader && node.rank !== null);
    const expected = survivors.reduce((best, node) => (node.rank > best.rank ? node : best));

    // Select the leader: its panel shows its statechart, and times as the log does.
    await page.locator(`tr[data-node="${leader}"]`).click();
    await expect.poll(() => page.locator('#panel-title').textContent(), { timeout: 15_000 }).toBe(`${leader} · online.leader`);
    await expect.poll(() => page.locator('#recent time').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    const times = [...(await page.locator('#recent time').allTextContents()), ...(await page.locator('#log time').allTextContents())];
    expect(times.filter((time) => !/^\d\d:\d\d:\d\d\.\d{3}$/.test(time))).toEqual([]);

    const clickedAt = Date.now();
    await page.locator(`tr[data-node="${leader}"] button[data-action="crash"]`).click();
    await expect.poll(() => leaderText.textContent(), { timeout: 30_000 }).toBe(expected.id);
    console.log(`the page showed the new leader ${expected.id} ${Date.now() - clickedAt} ms after the click on crash`);

    await expect.poll(() => page.locator(`tr[data-node="${leader}"] [data-testid="state"]`).textContent(), { timeout: 15_000 }).toBe('crashed');
    // Still selected, the crashed node's panel says so, and no state of its chart is active.
    expect(await page.locator('#panel-title').textContent()).toBe(`${leader} · crashed (its machine was in online.leader)`);
    expect(await page.locator('#chart .state.active').count()).toBe(0);
    const latest = page.locator('#elections tbody tr').first();
    await expect.poll(() => latest.getByTestId('winner').textContent(), { timeout: 15_000 }).toBe(`${expected.id} (rank ${expected.rank})`);
    expect(await latest.textContent()).toContain('the leader left the ring');
    await expect.poll(() => latest.textContent(), { timeout: 15_000 }).toMatch(/\d+ ms$/);
    await expect.poll(() => page.locator('#log').textContent(), { timeout: 15_000 }).toContain(`${leader} crashed`);

    // Real relay and node processes streamed all this: the inspector's checks turned none of it away.
    const stats = (await (await fetch(`${inspectorUrl}api/stats`)).json()) as { ingest: { messages: number; invalid: number } };
    expect(stats.ingest.messages).toBeGreaterThan(100);
    expect(stats.ingest.invalid).toBe(0);

    // Show the new leader's statechart, let a few heartbeats fly, and keep the picture.
    await page.locator(`tr[data-node="${expected.id}"]`).click();
    await page.waitForTimeout(600);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
