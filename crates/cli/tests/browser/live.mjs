// The live panel in a real browser, against `ashiato watch nem … --serve`: the page shows
// an incident before its theft is on the chain; crates/cli/tests/browser.rs then lets the
// replay node reveal the theft's blocks (when this prints READY); the alert must appear
// in the LIVE panel and the page must refetch the incident by itself.

import path from 'node:path';
import { BASE, OUT, TIMEOUT, enc, ok, fail, check, eq, api, waitLoaded, run } from './common.mjs';

const INCIDENT = process.env.ASHIATO_INCIDENT ?? 'coincheck-2018';

await run('live', async (b) => {
  const page = b.page;
  const q = enc(INCIDENT);
  const before = (await api(`/api/v1/incidents/${q}/holders?limit=50&offset=0`)).body;
  await page.goto(`${BASE}/#/incident/${q}`);
  await waitLoaded(page, `incident ${INCIDENT}`);
  await page
    .waitForFunction(() => document.querySelector('#live .live-status')?.dataset.status === 'live', null, { timeout: TIMEOUT })
    .catch(async () => fail(`the live panel never connected: ${await page.locator('#live .live-status').textContent()}`));
  const shownBefore = (await page.locator('#holders-table tbody tr').count()) || 0;
  eq(shownBefore, before.holders.length, 'holder rows before the theft');
  const itemsBefore = await page.locator('#live-list li.live-item').count();
  ok(`${INCIDENT} open before the theft: ${before.total} holders, ${itemsBefore} alerts in the live panel, stream live`);

  console.log('READY');

  // The alert arrives over the event stream while the page stays open.
  await page
    .waitForFunction(
      (name) => [...document.querySelectorAll('#live-list li.live-item')].some((li) => li.dataset.incident === name),
      INCIDENT,
      { timeout: TIMEOUT },
    )
    .catch(() => fail('no alert of the incident reached the live panel'));
  const first = await page
    .locator(`#live-list li.live-item[data-incident="${INCIDENT}"]`)
    .first()
    .textContent();
  ok(`live panel shows an alert of ${INCIDENT}: “${first.replace(/\s+/g, ' ').trim().slice(0, 120)}”`);

  // The page refetches on its own: its holders table catches up with the API.
  const deadline = Date.now() + TIMEOUT;
  let after = null;
  for (;;) {
    after = (await api(`/api/v1/incidents/${q}/holders?limit=50&offset=0`)).body;
    const shown = await page.evaluate(() => {
      const t = document.getElementById('holders-table');
      return t ? Number(t.dataset.total) : 0;
    });
    if (after.total > 0 && shown === after.total) break;
    if (Date.now() > deadline) fail(`the holders table never caught up: page ${shown}, API ${after.total}`);
    await page.waitForTimeout(250);
  }
  eq(await page.locator('#holders-table tbody tr').count(), after.holders.length, 'holder rows after the alert');
  const refreshes = await page.evaluate(() => window.__ashiato.refreshes);
  check(refreshes >= 1, 'the page did not refresh itself');
  await page.waitForFunction(() => window.__ashiato.graphReady === true, null, { timeout: TIMEOUT });
  const graph = (await api(`/api/v1/incidents/${q}/graph?limit=2000`)).body;
  const drawn = await page.evaluate(() => window.__ashiato.graph.order);
  eq(drawn, graph.nodes.length, 'graph nodes after the alert');
  const alerts = await page.locator('#live-list li.live-item').count();
  ok(`${INCIDENT} refreshed itself ${refreshes}× without a reload: ${after.total} holders (was ${before.total}), ${drawn} nodes drawn, ${alerts} alerts listed`);
  const file = path.join(OUT, 'live.png');
  await page.screenshot({ path: file, fullPage: true });
  ok(`screenshot ${file}`);
});
