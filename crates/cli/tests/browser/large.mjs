// The flow graph at scale, in a real browser: against `ashiato serve --policy haircut`
// over a store holding a SYNTHETIC incident (written by crates/cli/tests/browser.rs: a
// seed fans out to 60 addresses, each of those to 60 more, a few deposit into labelled
// exchanges), whose graph has thousands of nodes. By hand:
//
//   ASHIATO_URL=http://127.0.0.1:8080 PLAYWRIGHT_CORE=…/node_modules/playwright-core \
//   ASHIATO_OUT=/tmp/shots ASHIATO_INCIDENT=synthetic-fanout node large.mjs
//
// The page is opened, its node-count selector set to the smallest choice that holds every
// node, and the time from navigation to the drawn graph is printed and bounded. Then a
// mouse-wheel zoom and a drag must move the camera, and a real click on a node (placed
// from `window.__ashiato.nodeViewportPosition`) must open its details with the API's
// address and exact taint string. Timings are printed as `time …` lines.

import path from 'node:path';
import { BASE, OUT, TIMEOUT, enc, ok, fail, check, eq, api, waitLoaded, waitGraphReady, cameraState, run } from './common.mjs';

const INCIDENT = process.env.ASHIATO_INCIDENT ?? 'synthetic-fanout';
const POLICY = process.env.ASHIATO_POLICY ?? 'haircut';
const MIN_NODES = Number(process.env.ASHIATO_MIN_NODES ?? '3000');
// Navigation to the whole graph drawn: generous, for software WebGL on two cores.
const READY_BOUND_MS = Number(process.env.ASHIATO_READY_BOUND_MS ?? '60000');

const ms = (t) => `${Math.round(t)} ms`;

/** Positions on screen of `ids` (null for a node not drawn), from the page's hook. */
function positions(page, ids) {
  return page.evaluate((ids) => ids.map((id) => window.__ashiato.nodeViewportPosition(id)), ids);
}

/** The graph canvas's box, clipped to what the viewport shows below the sticky header. */
function visibleCanvas(page) {
  return page.evaluate(() => {
    const g = document.getElementById('graph').getBoundingClientRect();
    const head = document.querySelector('header.top').getBoundingClientRect();
    return {
      left: g.left,
      right: g.right,
      top: Math.max(g.top, head.bottom),
      bottom: Math.min(g.bottom, window.innerHeight),
      full: { left: g.left, top: g.top, right: g.right, bottom: g.bottom },
    };
  });
}

/** Waits until the camera has stopped (wheel animation, drag inertia). */
async function cameraSettled(page, what) {
  await page.waitForTimeout(50);
  await page
    .waitForFunction(() => !window.__ashiato.sigma.getCamera().isAnimated(), null, { timeout: TIMEOUT })
    .catch(() => fail(`${what}: the camera never stopped`));
}

/**
 * For each position, the gap to its nearest neighbour's rim (centre distance minus the
 * neighbour's radius), through a grid so that thousands of nodes stay cheap.
 */
function nearestGaps(pos) {
  const cell = 24;
  const grid = new Map();
  const key = (cx, cy) => `${cx},${cy}`;
  pos.forEach((p, i) => {
    if (!p) return;
    const k = key(Math.floor(p.x / cell), Math.floor(p.y / cell));
    if (!grid.has(k)) grid.set(k, []);
    grid.get(k).push(i);
  });
  return pos.map((p, i) => {
    if (!p) return -Infinity;
    let gap = Infinity;
    const cx = Math.floor(p.x / cell);
    const cy = Math.floor(p.y / cell);
    for (let dx = -2; dx <= 2; dx++) {
      for (let dy = -2; dy <= 2; dy++) {
        for (const j of grid.get(key(cx + dx, cy + dy)) || []) {
          if (j === i) continue;
          const o = pos[j];
          gap = Math.min(gap, Math.hypot(o.x - p.x, o.y - p.y) - o.radius);
        }
      }
    }
    return gap;
  });
}

await run('large', async (b) => {
  const page = b.page;
  const q = `policy=${enc(POLICY)}`;

  // The API's whole graph: what the page must draw.
  const summary = (await api(`/api/v1/incidents/${enc(INCIDENT)}`)).body;
  const full = (await api(`/api/v1/incidents/${enc(INCIDENT)}/graph?${q}&limit=20000`)).body;
  check(!full.truncated && full.nodes.length === full.total_nodes, `${INCIDENT}: the API's graph is truncated (${full.nodes.length} of ${full.total_nodes})`);
  check(full.nodes.length >= MIN_NODES, `${INCIDENT}: only ${full.nodes.length} nodes, want at least ${MIN_NODES}`);
  const kinds = {};
  for (const n of full.nodes) kinds[n.kind] = (kinds[n.kind] || 0) + 1;
  const hops = Math.max(...full.nodes.map((n) => n.hop ?? 0));
  // The crowded band: the hop with the most nodes, where zooming and clicking matter.
  const perHop = new Map();
  for (const n of full.nodes) perHop.set(n.hop, (perHop.get(n.hop) || 0) + 1);
  const crowded = [...perHop.entries()].sort((a, b) => b[1] - a[1])[0][0];
  ok(
    `API graph of ${INCIDENT} ${POLICY}: ${full.nodes.length} nodes (${Object.entries(kinds)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}), ${full.edges.length} edges, ${hops} hops`,
  );

  // Navigation: the page first draws its default limit, then the chosen one.
  const t0 = Date.now();
  await page.goto(`${BASE}/#/incident/${enc(INCIDENT)}?${q}`);
  await waitLoaded(page, `incident ${INCIDENT}`);
  await waitGraphReady(page, `${INCIDENT} at the default limit`, READY_BOUND_MS);
  const tFirst = Date.now() - t0;
  const first = await page.evaluate(() => ({
    order: window.__ashiato.graph.order,
    limit: Number(document.getElementById('graph-limit').value),
    options: [...document.querySelectorAll('#graph-limit option')].map((o) => Number(o.value)),
  }));
  // The page takes no limit from its URL: a person picks it in the node-count selector.
  const limit =
    first.limit >= full.nodes.length ? first.limit : first.options.filter((l) => l >= full.nodes.length).sort((a, b) => a - b)[0];
  check(limit, `the node-count selector offers no limit ≥ ${full.nodes.length}: ${first.options}`);
  let tAll = tFirst;
  let tSwitch = 0;
  if (limit !== first.limit) {
    const t1 = Date.now();
    // The change handler drops graphReady at once and raises it once the graph is drawn.
    await page.selectOption('#graph-limit', String(limit));
    await waitGraphReady(page, `${INCIDENT} at limit ${limit}`, READY_BOUND_MS);
    tSwitch = Date.now() - t1;
    tAll = Date.now() - t0;
  }
  const drawn = await page.evaluate(() => {
    const a = window.__ashiato;
    const ids = a.graph.nodes();
    const shown = ids.filter((id) => {
      const d = a.sigma.getNodeDisplayData(id);
      return d && !d.hidden && d.size > 0;
    }).length;
    return {
      ids,
      order: a.graph.order,
      size: a.graph.size,
      shown,
      info: document.querySelector('.graph-info').textContent,
      state: document.getElementById('graph').dataset.state,
    };
  });
  eq(drawn.order, full.nodes.length, `${INCIDENT}: nodes drawn`);
  eq(drawn.shown, full.nodes.length, `${INCIDENT}: nodes with display data`);
  eq([...drawn.ids].sort(), full.nodes.map((n) => String(n.id)).sort(), `${INCIDENT}: node ids drawn`);
  eq(drawn.size, full.edges.length, `${INCIDENT}: edges drawn`);
  eq(drawn.state, 'drawn', `${INCIDENT}: graph state`);
  ok(`graph drawn with ${drawn.order} nodes and ${drawn.size} edges at limit ${limit} (API ${full.nodes.length}/${full.edges.length}; toolbar “${drawn.info}”)`);
  console.log(
    `time navigation → graph ready: ${ms(tAll)} (first view, ${first.order} nodes at the default limit ${first.limit}: ${ms(tFirst)}; ` +
      `limit ${limit} chosen → all ${drawn.order} nodes drawn: ${ms(tSwitch)})`,
  );
  check(tAll < READY_BOUND_MS, `the whole graph took ${tAll} ms to draw, over the bound of ${READY_BOUND_MS} ms`);
  ok(`graph ready ${ms(tAll)} after navigation (bound ${ms(READY_BOUND_MS)})`);

  // The fitted view: every node on the canvas.
  // The graph panel at the top of the viewport, under the sticky header.
  await page.evaluate(() => {
    const head = document.querySelector('header.top').getBoundingClientRect().height;
    const top = document.querySelector('.graph-panel').getBoundingClientRect().top;
    window.scrollBy(0, top - head - 8);
  });
  await page.waitForTimeout(200);
  const box = await visibleCanvas(page);
  const ids = full.nodes.map((n) => String(n.id));
  const fit = await positions(page, ids);
  const outside = fit.filter(
    (p) => !p || p.x < box.full.left || p.x > box.full.right || p.y < box.full.top || p.y > box.full.bottom,
  ).length;
  eq(outside, 0, `${INCIDENT}: nodes outside the canvas in the fitted view`);
  const gaps = nearestGaps(fit);
  const overlapping = fit.filter((p, i) => gaps[i] < p.radius).length;
  const radii = fit.map((p) => p.radius);
  const sortedGaps = gaps.map((g, i) => g + fit[i].radius).sort((a, b) => a - b);
  ok(
    `every node inside the canvas (${Math.round(box.full.right - box.full.left)}×${Math.round(box.full.bottom - box.full.top)} px): ` +
      `radius ${Math.min(...radii).toFixed(2)}–${Math.max(...radii).toFixed(2)} px, ` +
      `nearest centre distance min ${sortedGaps[0].toFixed(2)} / median ${sortedGaps[sortedGaps.length >> 1].toFixed(2)} px, ` +
      `${overlapping} nodes touching a neighbour`,
  );
  await page.screenshot({ path: path.join(OUT, 'large.png') });

  // What a redraw costs at this size: a full one (reducers, indexation, WebGL upload) and
  // the one hovering or clicking a node triggers.
  const cost = await page.evaluate(() => {
    const s = window.__ashiato.sigma;
    const med = (f) => {
      const t = [];
      for (let i = 0; i < 5; i++) {
        const a = performance.now();
        f();
        t.push(performance.now() - a);
      }
      return t.sort((x, y) => x - y)[2];
    };
    return {
      full: med(() => s.refresh()),
      hover: med(() => s.refresh({ skipIndexation: true })),
    };
  });
  console.log(`time redraw of ${drawn.order} nodes: full refresh ${cost.full.toFixed(1)} ms, hover/click refresh ${cost.hover.toFixed(1)} ms (median of 5)`);

  // Frames drawn while the camera moves: how many, and how long sigma's render() takes
  // on the main thread (WebGL work in the GPU process comes on top).
  await page.evaluate(() => {
    const s = window.__ashiato.sigma;
    const f = (window.__largeFrames = { n: 0, busy: 0, at: 0 });
    s.on('beforeRender', () => (f.at = performance.now()));
    s.on('afterRender', () => {
      f.n++;
      f.busy += performance.now() - f.at;
    });
  });
  const frames = () => page.evaluate(() => ({ ...window.__largeFrames }));
  const fps = (a, b, wall) =>
    `${b.n - a.n} frames, ${((b.n - a.n) / (wall / 1000)).toFixed(1)} fps, render() ${((b.busy - a.busy) / Math.max(1, b.n - a.n)).toFixed(1)} ms a frame`;

  // Zoom: three wheel notches towards the middle of the crowded band (as drawn, clamped
  // to the visible canvas).
  const band = fit.filter((p, i) => full.nodes[i].hop === crowded);
  const mid = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const clamp = (v, lo, hi) => Math.min(hi - 40, Math.max(lo + 40, v));
  const cx = clamp(mid(band.map((p) => p.x)), box.left, box.right);
  const cy = clamp(mid(band.map((p) => p.y)), box.top, box.bottom);
  await page.mouse.move(cx, cy);
  const beforeZoom = await cameraState(page);
  let f0 = await frames();
  let ta = Date.now();
  for (let i = 0; i < 3; i++) {
    await page.mouse.wheel(0, -240);
    await cameraSettled(page, 'wheel zoom');
  }
  const zoomMs = Date.now() - ta;
  const zoomFrames = fps(f0, await frames(), zoomMs);
  const afterZoom = await cameraState(page);
  check(afterZoom.ratio < beforeZoom.ratio / 2, `the wheel did not zoom in: ratio ${beforeZoom.ratio} → ${afterZoom.ratio}`);
  ok(
    `wheel zoomed: camera ratio ${beforeZoom.ratio.toFixed(3)} → ${afterZoom.ratio.toFixed(3)} in ${ms(zoomMs)} ` +
      `(3 notches of sigma's 250 ms animation; ${zoomFrames})`,
  );

  // Pan: drag the stage left and up; the graph follows the mouse.
  const probe = ids[0];
  const [probeBefore] = await positions(page, [probe]);
  const drag = { x: -160, y: -90 };
  const sx = box.left + (box.right - box.left) * 0.7;
  const sy = box.top + (box.bottom - box.top) * 0.7;
  f0 = await frames();
  ta = Date.now();
  await page.mouse.move(sx, sy);
  await page.mouse.down();
  await page.mouse.move(sx + drag.x, sy + drag.y, { steps: 12 });
  await page.mouse.up();
  await cameraSettled(page, 'drag');
  const panMs = Date.now() - ta;
  const panFrames = fps(f0, await frames(), panMs);
  const afterPan = await cameraState(page);
  const [probeAfter] = await positions(page, [probe]);
  const moved = { x: probeAfter.x - probeBefore.x, y: probeAfter.y - probeBefore.y };
  check(afterPan.x !== afterZoom.x && afterPan.y !== afterZoom.y, `the drag did not pan: ${JSON.stringify(afterZoom)} → ${JSON.stringify(afterPan)}`);
  eq(afterPan.ratio, afterZoom.ratio, 'camera ratio after a drag');
  check(
    moved.x / drag.x >= 0.9 && moved.y / drag.y >= 0.9 && moved.x / drag.x <= 3 && moved.y / drag.y <= 3,
    `a drag of (${drag.x}, ${drag.y}) px moved node ${probe} by (${moved.x.toFixed(1)}, ${moved.y.toFixed(1)}) px`,
  );
  ok(
    `drag panned: camera (${afterZoom.x.toFixed(4)}, ${afterZoom.y.toFixed(4)}) → (${afterPan.x.toFixed(4)}, ${afterPan.y.toFixed(4)}); ` +
      `a drag of (${drag.x}, ${drag.y}) px moved the nodes (${moved.x.toFixed(0)}, ${moved.y.toFixed(0)}) px (sigma adds inertia when the last move is under 100 ms old) in ${ms(panMs)} (${panFrames})`,
  );

  // A real click on a node with room around it, in the most crowded band if possible.
  const view = await visibleCanvas(page);
  const pos = await positions(page, ids);
  const near = nearestGaps(pos);
  const candidates = full.nodes
    .map((n, i) => ({ n, p: pos[i], room: near[i] }))
    .filter(({ p }) => p && p.x > view.left + 12 && p.x < view.right - 12 && p.y > view.top + 12 && p.y < view.bottom - 12)
    .filter((c) => c.p.radius >= 2 && c.room > c.p.radius + 4 && c.n.taint !== '0');
  // In the crowded band, nearest the middle of the view.
  const centre = { x: (view.left + view.right) / 2, y: (view.top + view.bottom) / 2 };
  const off = (c) => Math.hypot(c.p.x - centre.x, c.p.y - centre.y);
  candidates.sort((a, b) => (b.n.hop === crowded) - (a.n.hop === crowded) || off(a) - off(b));
  check(candidates.length > 0, `no node with room around it on screen after zooming (${pos.filter(Boolean).length} positions)`);
  const { n: node, p, room } = candidates[0];
  await page.mouse.move(p.x - 30, p.y - 30);
  await page.mouse.move(p.x, p.y, { steps: 5 });
  ta = Date.now();
  await page.mouse.click(p.x, p.y);
  const details = page.locator('#details');
  await page
    .waitForFunction(
      (id) => {
        const d = document.getElementById('details');
        return d && d.dataset.node === id && (d.dataset.state === 'loaded' || d.dataset.state === 'error');
      },
      String(node.id),
      { timeout: TIMEOUT },
    )
    .catch(async () =>
      fail(`clicking at (${p.x.toFixed(1)}, ${p.y.toFixed(1)}) did not open node ${node.id}; details show ${await details.getAttribute('data-node')}`),
    );
  const clickMs = Date.now() - ta;
  eq(await details.getAttribute('data-state'), 'loaded', 'details state');
  eq((await details.locator('[data-field=address]').textContent()).trim(), node.address, 'details address');
  eq(await details.locator('[data-field=taint] .amt').getAttribute('data-raw'), node.taint, 'details taint');
  eq((await details.locator('[data-field=kind]').textContent()).trim(), node.kind, 'details kind');
  eq((await details.locator('[data-field=hop]').textContent()).trim(), node.hop === null ? '—' : String(node.hop), 'details hop');
  const screen = (await api(`/api/v1/screen/${enc(summary.chain)}/${enc(node.address)}`)).body;
  const hit = (screen.hits || []).find((x) => x.incident === INCIDENT && x.policy === POLICY);
  check(hit, `the screening API has no ${INCIDENT}/${POLICY} hit for ${node.address}`);
  const shownPath = await details.locator('.node-path ol.txpath code.tx').allTextContents();
  eq(shownPath, hit.path, `details path of ${node.address}`);
  const roomText = Number.isFinite(room) ? `${room.toFixed(1)} px` : 'nothing near';
  ok(
    `clicked ${node.kind} ${node.address} (hop ${node.hop}) at (${p.x.toFixed(0)}, ${p.y.toFixed(0)}), radius ${p.radius.toFixed(1)} px, ` +
      `${roomText} to the nearest rim; details show its address, taint ${node.taint} and a path of ${shownPath.length} tx, ${ms(clickMs)} after the click`,
  );
  await page.screenshot({ path: path.join(OUT, 'large-zoomed.png') });
});
