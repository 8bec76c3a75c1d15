/**
 * The inspector page in a real browser (Debian's chromium via playwright-core) on a real ring:
 * `ringleader up` (what `npm start` runs: a relay process, 5 node processes and the inspector),
 * the page shows its leader, a click crashes the leader, and the page then shows the new leader
 * and the election that chose it. Saves the page as <tmpdir>/ringleader-inspector.png, or as the
 * tracked docs/inspector.png when UPDATE_SCREENSHOT=1 is set. Needs `npm run build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeView, RingState } from '../inspector/server/messages.js';
import { findWebRoot } from '../inspector/server/staticFiles.js';
import { waitUntil } from './inspectorHarness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'ringleader.js');
const NODES = 5;
/** Runs leave the tracked picture alone unless asked to refresh it. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1' ? join(ROOT, 'docs', 'inspector.png') : join(tmpdir(), 'ringleader-inspector.png');

let up: ChildProcess | undefined;
let upOutput = '';
let context: BrowserContext | undefined;
let profile: string | undefined;

afterAll(async () => {
  await context?.close().catch(() => {});
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
  const state = async (): Promise<RingState> => (await (await fetch(`${inspectorUrl}api/state`)).json()) as RingState;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install it with "apt-get install -y chromium"`);
    if (!existsSync(CLI) || findWebRoot() === null) throw new Error('not built: run "npm run build" first');
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
    await waitUntil(async () => {
      const now = await state();
      const live = now.nodes.filter((node) => node.member);
      return live.length === NODES && now.leader !== null && live.every((node) => node.leader?.id === now.leader!.id);
    }, 45_000, `all ${NODES} nodes to agree on a leader on the inspector`);

    profile = mkdtempSync(join(tmpdir(), 'ringleader-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(inspectorUrl);
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

    const clickedAt = Date.now();
    await page.locator(`tr[data-node="${leader}"] button[data-action="crash"]`).click();
    await expect.poll(() => leaderText.textContent(), { timeout: 30_000 }).toBe(expected.id);
    console.log(`the page showed the new leader ${expected.id} ${Date.now() - clickedAt} ms after the click on crash`);

    await expect.poll(() => page.locator(`tr[data-node="${leader}"] [data-testid="state"]`).textContent(), { timeout: 15_000 }).toBe('crashed');
    const latest = page.locator('#elections tbody tr').first();
    await expect.poll(() => latest.getByTestId('winner').textContent(), { timeout: 15_000 }).toBe(`${expected.id} (rank ${expected.rank})`);
    expect(await latest.textContent()).toContain('the leader left the ring');
    await expect.poll(() => latest.textContent(), { timeout: 15_000 }).toMatch(/\d+ ms$/);
    await expect.poll(() => page.locator('#log').textContent(), { timeout: 15_000 }).toContain(`${leader} crashed`);

    // Show the new leader's statechart, let a few heartbeats fly, and keep the picture.
    await page.locator(`tr[data-node="${expected.id}"]`).click();
    await page.waitForTimeout(600);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
