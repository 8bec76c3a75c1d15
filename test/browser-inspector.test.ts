/**
 * The inspector page in a real browser (Debian's chromium via playwright-core): a live ring
 * of real machines streams to the inspector, the page shows its leader, a click crashes the
 * leader, and the page then shows the new leader and the election that chose it.
 * Saves the page as docs/inspector.png.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInspector, type RunningInspector } from '../inspector/server/index.js';
import { findWebRoot } from '../inspector/server/staticFiles.js';
import { createLogger } from '../runtime/logger.js';
import { InProcessRing, waitUntil } from './inspectorHarness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RANKS = [10, 50, 30, 90, 20];

let inspector: RunningInspector | undefined;
let ring: InProcessRing | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;

afterAll(async () => {
  await context?.close().catch(() => {});
  ring?.close();
  await inspector?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('inspector page in chromium', () => {
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install it with "apt-get install -y chromium"`);
    if (findWebRoot() === null) throw new Error('the inspector page is not built: run "npm run build" first');
    const logger = createLogger({ component: 'inspector', level: 'silent', pretty: false });
    ring = new InProcessRing(undefined);
    // The ring streams to the inspector, so the inspector starts first and the ring is created with its URL.
    ring.close();
    let control: InProcessRing | undefined;
    inspector = await startInspector({
      port: 0,
      host: '127.0.0.1',
      relayUrl: 'ws://127.0.0.1:9/', // no relay process here: membership comes from the relay machine's own stream
      token: '',
      logger,
      control: {
        crash: (id) => control!.crash(id),
        freeze: (id) => control!.freeze(id),
        unfreeze: (id) => control!.unfreeze(id),
        startElection: (id) => control!.startElection(id),
        addNode: (options) => control!.addNode(options),
        restartRelay: () => control!.restartRelay(),
      },
    });
    ring = control = new InProcessRing(inspector.ingestUrl);
    await ring.addNodes(RANKS);
    await waitUntil(() => ring!.agreedLeader() !== null, 20_000, 'the ring to agree on a leader');

    profile = mkdtempSync(join(tmpdir(), 'ringleader-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(inspector.url);
  });

  it('shows the leader, and after a click on crash, the new leader and the election that chose it', async () => {
    const leader = ring!.agreedLeader()!;
    const leaderText = page.getByTestId('leader');
    await expect.poll(() => leaderText.textContent(), { timeout: 15_000 }).toBe(leader);
    await expect.poll(() => page.locator('#ring [data-node]').count(), { timeout: 15_000 }).toBe(RANKS.length);
    await expect.poll(() => page.locator(`tr[data-node="${leader}"] [data-testid="state"]`).textContent(), { timeout: 15_000 }).toBe('leader');

    // The survivor with the highest rank must win the election that follows the crash.
    const survivors = ring!.ids().filter((id) => id !== leader);
    const rankOf = (id: string) => RANKS[Number(id.slice(1)) - 1]!;
    const expected = survivors.reduce((best, id) => (rankOf(id) > rankOf(best) ? id : best));

    const clickedAt = Date.now();
    await page.locator(`tr[data-node="${leader}"] button[data-action="crash"]`).click();
    await expect.poll(() => leaderText.textContent(), { timeout: 20_000 }).toBe(expected);
    const shownAfterMs = Date.now() - clickedAt;
    console.log(`inspector page showed the new leader ${expected} ${shownAfterMs} ms after the crash click`);

    await expect.poll(() => page.locator(`tr[data-node="${leader}"] [data-testid="state"]`).textContent(), { timeout: 15_000 }).toBe('crashed');
    const latest = page.locator('#elections tbody tr').first();
    await expect.poll(() => latest.getByTestId('winner').textContent(), { timeout: 15_000 }).toContain(`${expected} (rank ${rankOf(expected)})`);
    expect(await latest.textContent()).toContain('the leader left the ring');
    await expect.poll(() => latest.textContent(), { timeout: 15_000 }).toMatch(/\d+ ms$/);
    await expect.poll(() => page.locator('#log').textContent(), { timeout: 15_000 }).toContain(`${leader} crashed`);

    // Let a few heartbeats animate so the screenshot shows frames in flight, then keep it.
    await page.locator(`tr[data-node="${expected}"]`).click();
    await page.waitForTimeout(400);
    await page.screenshot({ path: 'docs/inspector.png', fullPage: true });
  });
});
