// The tracking site in a real browser (Debian's chromium driven by playwright-core),
// against a running `ashiato serve`. Run by crates/cli/tests/browser.rs; by hand:
//
//   ASHIATO_URL=http://127.0.0.1:8080 PLAYWRIGHT_CORE=…/node_modules/playwright-core \
//   ASHIATO_OUT=/tmp/shots ASHIATO_MFTRACER=Atomic node site.mjs
//
// Every expected value comes from the API itself (fetched here, outside the page), and
// every click is a real mouse click at the node's position on screen. Prints one `ok …`
// line per check and exits non-zero at the first failure.

import path from 'node:path';
import { BASE, OUT, TIMEOUT, enc, ok, fail, check, eq, api, goto, waitLoaded, run } from './common.mjs';

const COINCHECK = process.env.ASHIATO_COINCHECK ?? 'coincheck-2018';
const MFTRACER = process.env.ASHIATO_MFTRACER ?? 'Atomic';
const POLICY = process.env.ASHIATO_POLICY ?? 'poison';

// --- one incident -------------------------------------------------------------------

async function checkIncident(page, name, shot) {
  const summary = (await api(`/api/v1/incidents/${enc(name)}`)).body;
  const policy = (summary.policies || []).some((p) => p.policy === POLICY) ? POLICY : summary.policies[0].policy;
  const q = `policy=${enc(policy)}`;
  const graph = (await api(`/api/v1/incidents/${enc(name)}/graph?${q}&limit=2000`)).body;
  const holders = (await api(`/api/v1/incidents/${enc(name)}/holders?${q}&limit=50&offset=0`)).body;
  const exits = (await api(`/api/v1/incidents/${enc(name)}/exits?${q}`)).body;
  check(graph.nodes.length > 0, `${name}: the API's graph has no node`);

  await goto(page, `#/incident/${enc(name)}?${q}`, `incident ${name}`);
  await page
    .waitForFunction(() => window.__ashiato.graphReady === true, null, { timeout: TIMEOUT })
    .catch(() => fail(`${name}: the flow graph was not drawn`));
  const drawn = await page.evaluate(() => window.__ashiato.graph.order);
  eq(drawn, graph.nodes.length, `${name}: nodes drawn`);
  ok(`${name} ${policy}: graph drawn with ${drawn} nodes (API: ${graph.nodes.length} of ${graph.total_nodes})`);

  // A node to click: one with room around it on screen, so that the click cannot land
  // on a neighbour; a holder or exit with taint if there is one.
  await page.locator('#graph').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -80));
  await page.waitForTimeout(300);
  const geo = await page.evaluate((ids) => {
    const a = window.__ashiato;
    const g = document.getElementById('graph').getBoundingClientRect();
    const head = document.querySelector('header.top').getBoundingClientRect();
    return {
      canvas: { left: g.left, top: g.top, right: g.right, bottom: g.bottom },
      headBottom: head.bottom,
      viewport: { w: window.innerWidth, h: window.innerHeight },
      pos: ids.map((id) => a.nodeViewportPosition(id)),
    };
  }, graph.nodes.map((n) => n.id));
  const rank = { holder: 0, exit: 1, seed: 2, dust: 3 };
  const candidates = graph.nodes
    .map((n, i) => ({ n, p: geo.pos[i] }))
    .filter(({ p }) => p && p.x > geo.canvas.left + 12 && p.x < geo.canvas.right - 12)
    .filter(({ p }) => p.y > Math.max(geo.canvas.top, geo.headBottom) + 12 && p.y < Math.min(geo.canvas.bottom, geo.viewport.h) - 12)
    .map((c) => {
      let room = Infinity;
      for (const o of geo.pos) {
        if (!o || o === c.p) continue;
        room = Math.min(room, Math.hypot(o.x - c.p.x, o.y - c.p.y) - o.radius);
      }
      return { ...c, room };
    })
    .filter((c) => c.room > c.p.radius + 2 && c.p.radius >= 2);
  candidates.sort(
    (a, b) =>
      (a.n.taint === '0') - (b.n.taint === '0') ||
      rank[a.n.kind] - rank[b.n.kind] ||
      b.room - a.room,
  );
  check(candidates.length > 0, `${name}: no node with room around it on screen`);
  const { n: node, p } = candidates[0];
  // Hover first, as a person would; then a real click at the node's screen position.
  await page.mouse.move(p.x - 30, p.y - 30);
  await page.mouse.move(p.x, p.y, { steps: 5 });
  await page.mouse.click(p.x, p.y);
  const details = page.locator('#details');
  await page
    .waitForFunction((id) => {
      const d = document.getElementById('details');
      return d && d.dataset.node === id && (d.dataset.state === 'loaded' || d.dataset.state === 'error');
    }, node.id, { timeout: TIMEOUT })
    .catch(async () =>
      fail(`${name}: clicking at (${p.x.toFixed(1)}, ${p.y.toFixed(1)}) did not open node ${node.id}; details show ${await details.getAttribute('data-node')}`),
    );
  eq(await details.getAttribute('data-state'), 'loaded', `${name}: details state`);
  eq((await details.locator('[data-field=address]').textContent()).trim(), node.address, `${name}: details address`);
  eq(await details.locator('[data-field=taint] .amt').getAttribute('data-raw'), node.taint, `${name}: details taint`);
  eq((await details.locator('[data-field=kind]').textContent()).trim(), node.kind, `${name}: details kind`);
  eq((await details.locator('[data-field=hop]').textContent()).trim(), node.hop === null ? '—' : String(node.hop), `${name}: details hop`);
  const shownTaint = (await details.locator('[data-field=taint] .amt').textContent()).trim();
  // The shown number, digits only, is the API's string with its trailing zeros shifted
  // out: exact, never rounded through a float.
  check(
    node.taint.replace(/0+$/, '').startsWith(shownTaint.replace(/[^0-9]/g, '').replace(/0+$/, '')),
    `${name}: shown taint "${shownTaint}" is not ${node.taint}`,
  );
  // The path the page shows is the screening API's (or, for an exit, the exit list's).
  const screen = (await api(`/api/v1/screen/${enc(summary.chain)}/${enc(node.address)}`)).body;
  const hit = (screen.hits || []).find((x) => x.incident === name && x.policy === policy);
  const exit = exits.find((x) => x.address === node.address);
  const want = hit ? hit.path : exit ? exit.path : [];
  const shownPath = await details.locator('.node-path ol.txpath code.tx').allTextContents();
  eq(shownPath, want, `${name}: details path of ${node.address}`);
  eq(
    await details.locator('[data-field=address-link]').getAttribute('href'),
    `#/address/${enc(summary.chain)}/${enc(node.address)}`,
    `${name}: address link`,
  );
  ok(
    `${name}: clicked ${node.kind} ${node.address} at (${p.x.toFixed(0)}, ${p.y.toFixed(0)}); details show its address, taint ${node.taint} (“${shownTaint}”), hop ${node.hop} and a path of ${want.length} tx`,
  );

  // Tables: as many rows as the API has.
  const holderRows = await page.locator('#holders-table tbody tr').count();
  eq(holderRows, holders.holders.length, `${name}: holder rows`);
  eq(Number(await page.locator('#holders-table').getAttribute('data-total')), holders.total, `${name}: holders total`);
  eq(
    await page.locator('#holders-table tbody tr').first().getAttribute('data-address'),
    holders.holders[0] ? holders.holders[0].address : null,
    `${name}: first holder`,
  );
  const exitRows = exits.length ? await page.locator('#exits-table tbody tr').count() : 0;
  eq(exitRows, exits.length, `${name}: exit rows`);
  if (exits.length) {
    const href = await page.locator('#exits-table tbody tr').first().locator('a.report-link').getAttribute('href');
    eq(href, exits[0].report, `${name}: first exit's report link`);
    const report = await fetch(new URL(href, BASE));
    eq(report.status, 200, `${name}: first exit's evidence report`);
  }
  ok(`${name}: holders table ${holderRows} rows of ${holders.total} (API ${holders.holders.length}), exits table ${exitRows} rows (API ${exits.length})`);

  if (holders.total > holders.holders.length) {
    const next = (await api(`/api/v1/incidents/${enc(name)}/holders?${q}&limit=50&offset=50`)).body;
    await page.locator('#holders .pager button', { hasText: 'Next' }).click();
    await page.waitForFunction(() => {
      const t = document.getElementById('holders-table');
      return t && t.dataset.offset === '50';
    });
    eq(await page.locator('#holders-table tbody tr').count(), next.holders.length, `${name}: holder rows of page 2`);
    ok(`${name}: holders page 2 has ${next.holders.length} rows`);
  }

  // Timeline, summary, exports.
  const bars = await page.locator('#timeline svg .bucket').count();
  check(bars > 0, `${name}: the timeline has no bar`);
  const ps = summary.policies.find((x) => x.policy === policy);
  eq(await page.locator('#summary [data-field=entered] .amt').getAttribute('data-raw'), ps.summary.entered, `${name}: entered`);
  eq(await page.locator('#summary [data-field=held] .amt').getAttribute('data-raw'), ps.summary.held, `${name}: held`);
  eq(await page.locator('#summary [data-field=exited] .amt').getAttribute('data-raw'), ps.summary.exited, `${name}: exited`);
  const exports = await page.locator('nav.exports a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  for (const href of exports) {
    const r = await fetch(new URL(href, BASE));
    eq(r.status, 200, `${name}: export ${href}`);
  }
  ok(`${name}: timeline ${bars} buckets; summary entered/held/exited exact; ${exports.length} export links answer 200`);

  const file = path.join(OUT, shot);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  ok(`${name}: screenshot ${file}`);
  return { summary, holders };
}

// --- the run ------------------------------------------------------------------------

await run('site', async (b) => {
  const page = b.page;
  await page.goto(BASE + '/');
  await waitLoaded(page, 'home');
  const incidents = (await api('/api/v1/incidents')).body;
  const cards = await page.locator('.incident-card').count();
  eq(cards, incidents.length, 'incident cards on the home page');
  ok(`home lists ${cards} incidents`);
  await page.screenshot({ path: path.join(OUT, 'home.png'), fullPage: true });

  const cc = await checkIncident(page, COINCHECK, 'coincheck.png');
  await checkIncident(page, MFTRACER, 'mftracer.png');

  // The search box: a tainted address.
  const target = cc.holders.holders[0].address;
  const screen = (await api(`/api/v1/screen/${enc(cc.summary.chain)}/${enc(target)}`)).body;
  await page.evaluate(() => (window.__ashiato.loaded = false));
  await page.selectOption('#search-chain', cc.summary.chain);
  await page.fill('#search-address', target);
  await page.click('#search button[type=submit]');
  await page.waitForFunction((h) => location.hash === h, `#/address/${enc(cc.summary.chain)}/${enc(target)}`);
  await waitLoaded(page, 'address page');
  eq(await page.locator('.verdict').getAttribute('data-tainted'), String(screen.tainted), `verdict of ${target}`);
  eq(await page.locator('.verdict-word').textContent(), screen.tainted ? 'Tainted' : 'Not tainted', `verdict word of ${target}`);
  const hitRows = await page.locator('table.hits tbody tr').count();
  eq(hitRows, screen.hits.length, `hit rows of ${target}`);
  const firstHit = screen.hits.find((x) => x.incident === COINCHECK && x.policy === POLICY);
  check(firstHit, `the API has no ${COINCHECK}/${POLICY} hit for ${target}`);
  const row = page.locator(`table.hits tbody tr[data-incident="${COINCHECK}"][data-policy="${POLICY}"]`);
  eq(await row.locator('[data-field=taint] .amt').getAttribute('data-raw'), firstHit.taint, `hit taint of ${target}`);
  ok(`search ${cc.summary.chain} ${target}: verdict ${screen.tainted ? 'tainted' : 'not tainted'}, ${hitRows} hits, ${COINCHECK}/${POLICY} taint ${firstHit.taint}`);
  await page.screenshot({ path: path.join(OUT, 'address.png'), fullPage: true });

  // The search box: a malformed address shows the API's own 400 message.
  const bad = 'NOT-A-NEM-ADDRESS';
  const badUrl = `${BASE}/api/v1/screen/nem/${enc(bad)}`;
  b.expectedFailures.add(badUrl);
  const refused = await api(`/api/v1/screen/nem/${enc(bad)}`);
  eq(refused.status, 400, 'status of a malformed address');
  await page.evaluate(() => (window.__ashiato.loaded = false));
  await page.selectOption('#search-chain', 'nem');
  await page.fill('#search-address', bad);
  await page.press('#search-address', 'Enter');
  await waitLoaded(page, 'malformed address page');
  eq((await page.locator('.error .error-message').textContent()).trim(), refused.body.error.message, 'error message shown');
  eq(await page.locator('.error').getAttribute('data-code'), refused.body.error.code, 'error code shown');
  ok(`malformed address ${bad}: the page shows the API's ${refused.status} ${refused.body.error.code} message “${refused.body.error.message}”`);
  await page.screenshot({ path: path.join(OUT, 'bad-address.png'), fullPage: true });

  // An unknown incident: an error, not a crash.
  b.expectedFailures.add(`${BASE}/api/v1/incidents/no-such-incident`);
  await goto(page, '#/incident/no-such-incident', 'unknown incident');
  check((await page.locator('#summary .error').count()) === 1, 'an unknown incident shows an error');
  ok('unknown incident: an error message, the page still works');

});
