// Incident: summary, flow graph with node details, timeline, holders, exits, exports and
// the live alert panel. Each section loads and fails on its own; an alert about this
// incident refetches them all (debounced).

import { api, paths, isAbort } from './api.js';
import { nativeAsset, formatAmount } from './amount.js';
import {
  h,
  clear,
  amount,
  loading,
  errorBox,
  incidentHref,
  addressHref,
  addressLink,
  txPath,
  count,
  fmtTime,
  short,
} from './dom.js';
import { createFlowGraph, KIND_COLOURS } from './graph.js';
import { renderTimeline } from './timeline.js';
import { startLive, liveState, onLive } from './live.js';

const PAGE = 50;
const LIMITS = [200, 500, 2000, 5000, 20000];
const SUMMARY_FIELDS = [
  ['entered', 'Entered'],
  ['held', 'Held'],
  ['exited', 'Exited'],
  ['dust', 'Dust'],
  ['lost_to_fees', 'Lost to fees'],
  ['cut_by_hops', 'Cut by hops'],
  ['returned_to_seeds', 'Returned to seeds'],
  ['left_data', 'Left the data'],
];
const REFRESH_DEBOUNCE_MS = 1200;

export function incidentView(root, { name, policy: wanted }, ctx) {
  const st = {
    summary: null,
    policy: null,
    asset: null,
    offset: 0,
    limit: 2000,
    flow: null,
    selected: null,
    detailsAbort: null,
    refreshTimer: null,
    exits: [],
    retries: 0,
  };
  const signal = ctx.signal;

  // Skeleton.
  const title = h('h1', null, name);
  const meta = h('div', { class: 'incident-meta' });
  const policyBox = h('div', { class: 'policy-box' });
  const exportsBox = h('nav', { class: 'exports', 'aria-label': 'Exports' });
  const notice = h('div', { class: 'notice-slot' });
  const cards = h('div', { class: 'cards', id: 'summary' }, loading('Loading the incident'));
  const graphInfo = h('span', { class: 'graph-info muted' });
  const limitSel = h(
    'select',
    { id: 'graph-limit', 'aria-label': 'Largest number of nodes drawn' },
    LIMITS.map((l) => h('option', { value: l }, `${count(l)} nodes`)),
  );
  limitSel.value = String(st.limit);
  const canvas = h('div', { class: 'graph-canvas', id: 'graph', 'data-state': 'loading' });
  const graphStatus = h('div', { class: 'graph-status' }, loading('Loading the flow graph'));
  // WebGL does not print: a static SVG of the current view stands in on paper.
  const graphPrint = h('div', { class: 'graph-print' });
  const details = h(
    'div',
    { class: 'card details', id: 'details', 'data-state': 'empty' },
    h('h2', null, 'Node'),
    h('p', { class: 'muted' }, 'Click a node of the graph to see its address, taint and path.'),
  );
  const liveList = h('ol', { class: 'live-list', id: 'live-list' });
  const liveStatus = h('span', { class: 'live-status', 'data-status': 'off' }, 'off');
  const livePanel = h(
    'div',
    { class: 'card live', id: 'live' },
    h('h2', null, 'Live ', liveStatus),
    h('p', { class: 'muted small live-hint' }, 'Alerts of the watch, as they arrive; this incident’s refresh the page.'),
    liveList,
  );
  const timeline = h('div', { id: 'timeline' }, loading('Loading the timeline'));
  const holders = h('div', { id: 'holders' }, loading('Loading the holders'));
  const exits = h('div', { id: 'exits' }, loading('Loading the exits'));
  const updated = h('span', { class: 'muted small', id: 'updated' });

  clear(
    root,
    h(
      'section',
      { class: 'incident-head' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Incidents'), ' / incident'),
      h('div', { class: 'title-row' }, title, policyBox),
      meta,
      exportsBox,
      notice,
    ),
    cards,
    h(
      'div',
      { class: 'graph-row' },
      h(
        'section',
        { class: 'card graph-panel' },
        h(
          'div',
          { class: 'graph-toolbar' },
          h('h2', null, 'Flow graph'),
          h(
            'span',
            { class: 'legend' },
            Object.entries(KIND_COLOURS).map(([k]) => h('span', { class: `dot kind-${k}` }, k)),
          ),
          graphInfo,
          h('span', { class: 'spacer' }),
          limitSel,
          h('button', { type: 'button', class: 'icon', title: 'Zoom in', onclick: () => st.flow && st.flow.zoomIn() }, '+'),
          h('button', { type: 'button', class: 'icon', title: 'Zoom out', onclick: () => st.flow && st.flow.zoomOut() }, '−'),
          h('button', { type: 'button', class: 'icon', title: 'Fit the whole graph', onclick: () => st.flow && st.flow.reset() }, '⤢'),
        ),
        h('div', { class: 'graph-stage' }, canvas, graphStatus, graphPrint),
        h('p', { class: 'muted small' }, 'Left to right: hops from the seeds. Top to bottom: taint within a hop. Scroll to zoom, drag to pan, hover to see neighbours, click for details.'),
      ),
      h('aside', { class: 'side' }, details, livePanel),
    ),
    h('section', { class: 'card' }, h('h2', null, 'Timeline'), timeline),
    h('section', { class: 'card' }, h('h2', null, 'Tainted holders'), holders),
    h('section', { class: 'card' }, h('h2', null, 'Exits'), exits),
    h('p', { class: 'page-foot' }, updated),
  );

  // The graph needs its container laid out; it is now.
  st.flow = createFlowGraph(canvas, {
    onSelect: (node) => showNode(node),
    onRendered: () => {
      if (canvas.dataset.state === 'drawn-pending') {
        canvas.dataset.state = 'drawn';
        ctx.hook.graphReady = true;
      }
    },
  });
  ctx.hook.sigma = st.flow.renderer;
  ctx.hook.graph = st.flow.graph;
  ctx.hook.flow = st.flow;

  const beforePrint = () => {
    try {
      if (st.flow && st.flow.graph.order > 0) clear(graphPrint, st.flow.toSVG());
    } catch (e) {
      console.warn('no printable graph', e);
    }
  };
  const afterPrint = () => clear(graphPrint);
  const printQuery = window.matchMedia ? window.matchMedia('print') : null;
  const onPrintQuery = (ev) => (ev.matches ? beforePrint() : afterPrint());
  window.addEventListener('beforeprint', beforePrint);
  window.addEventListener('afterprint', afterPrint);
  if (printQuery) printQuery.addEventListener('change', onPrintQuery);

  limitSel.addEventListener('change', () => {
    st.limit = Number(limitSel.value) || 2000;
    loadGraph().catch(() => {});
  });

  // Live panel.
  startLive();
  const renderLive = () => {
    const ls = liveState();
    liveStatus.textContent = ls.status;
    liveStatus.dataset.status = ls.status;
    const items = ls.alerts.slice(0, 60);
    if (items.length === 0) {
      clear(liveList, h('li', { class: 'muted empty' }, 'No alert yet.'));
      return;
    }
    clear(liveList, items.map((a) => liveItem(a, name)));
  };
  renderLive();
  const unsubscribe = onLive((item) => {
    renderLive();
    if (item.type !== 'status' && !item.backlog && item.data && item.data.incident === name) scheduleRefresh();
  });

  function scheduleRefresh() {
    st.retries = 0;
    clearTimeout(st.refreshTimer);
    st.refreshTimer = setTimeout(() => {
      st.refreshTimer = null;
      refresh().catch(() => {});
    }, REFRESH_DEBOUNCE_MS);
  }

  async function refresh() {
    if (signal.aborted) return;
    ctx.hook.refreshing = true;
    try {
      const summary = await api(paths.incident(name), { signal });
      // The alert may arrive before the server's index is rebuilt: when nothing changed
      // yet, look again a little later (a few times).
      const changed = JSON.stringify(summary) !== JSON.stringify(st.summary);
      st.summary = summary;
      if (!changed && st.retries < 4) {
        st.retries += 1;
        clearTimeout(st.refreshTimer);
        st.refreshTimer = setTimeout(() => refresh().catch(() => {}), 1500);
        return;
      }
      const graph = loadGraph();
      await Promise.allSettled([loadHolders(), loadExits()]);
      renderSummary();
      await Promise.allSettled([graph, loadTimeline()]);
      ctx.hook.refreshes += 1;
      updated.textContent = `Refreshed after a live alert at ${new Date().toISOString().replace('T', ' ').slice(0, 19)} UTC.`;
    } catch (e) {
      if (!isAbort(e)) clear(notice, errorBox(e, 'Refreshing'));
    } finally {
      ctx.hook.refreshing = false;
    }
  }

  // Loading.
  async function start() {
    let summary;
    try {
      summary = await api(paths.incident(name), { signal });
    } catch (e) {
      if (isAbort(e)) return;
      clear(cards, errorBox(e, `Loading incident “${name}”`));
      for (const el of [timeline, holders, exits]) clear(el);
      clear(graphStatus, h('p', { class: 'muted' }, 'No graph without the incident.'));
      canvas.dataset.state = 'error';
      ctx.done();
      return;
    }
    st.summary = summary;
    const served = (summary.policies || []).map((p) => p.policy);
    st.policy = wanted && served.includes(wanted) ? wanted : served[0] || wanted || 'poison';
    if (wanted && !served.includes(wanted)) {
      clear(notice, h('div', { class: 'notice' }, `Policy “${wanted}” is not served here; showing ${st.policy}.`));
    }
    ctx.setChain(summary.chain);
    renderHead();
    // The graph needs no unit; the timeline and the summary take theirs from the holders.
    const graph = loadGraph();
    await Promise.allSettled([loadHolders(), loadExits()]);
    renderSummary();
    await Promise.allSettled([graph, loadTimeline()]);
    ctx.done();
  }

  function renderHead() {
    const s = st.summary;
    clear(title, s.name || name);
    clear(
      meta,
      h('span', { class: `chip chain-${s.chain}` }, s.chain),
      s.description ? h('p', { class: 'desc' }, s.description) : null,
      h(
        'dl',
        { class: 'facts' },
        s.source ? [h('dt', null, 'Source'), h('dd', null, s.source)] : null,
        [h('dt', null, 'Since'), h('dd', null, s.since || 'the start of the data')],
        [
          h('dt', null, `Seeds (${count((s.seeds || []).length)})`),
          h(
            'dd',
            { class: 'seed-list' },
            (s.seeds || []).length
              ? (s.seeds || []).slice(0, 12).map((a) => addressLink(s.chain, a, { full: false }))
              : h('span', { class: 'muted' }, 'none'),
            (s.seeds || []).length > 12 ? h('span', { class: 'muted' }, ` and ${s.seeds.length - 12} more`) : null,
          ),
        ],
        (s.seed_txs || []).length ? [h('dt', null, 'Seed transactions'), h('dd', null, txPath(s.seed_txs))] : null,
        s.data_sha256 ? [h('dt', null, 'Data SHA-256'), h('dd', null, h('code', { class: 'hash' }, s.data_sha256))] : null,
      ),
    );
    const sel = h(
      'select',
      { id: 'policy', 'aria-label': 'Policy' },
      (s.policies || []).map((p) => h('option', { value: p.policy }, p.policy)),
    );
    sel.value = st.policy;
    sel.addEventListener('change', () => {
      location.hash = incidentHref(name, sel.value);
    });
    clear(policyBox, h('label', { for: 'policy' }, 'Policy '), sel);
    const p = st.policy;
    clear(
      exportsBox,
      h('span', { class: 'muted' }, 'Export: '),
      h('a', { href: paths.export(name, 'csv', p), download: '' }, 'CSV'),
      h('a', { href: paths.export(name, 'json', p), download: '' }, 'JSON'),
      h('a', { href: paths.export(name, 'graphml', p), download: '' }, 'GraphML'),
      h('a', { href: paths.report(name, p), target: '_blank', rel: 'noopener' }, 'Evidence report'),
    );
  }

  function policySummary() {
    return (st.summary.policies || []).find((p) => p.policy === st.policy) || null;
  }

  function renderSummary() {
    const ps = policySummary();
    if (!ps) {
      clear(cards, h('p', { class: 'muted' }, 'No summary for this policy.'));
      return;
    }
    const sm = ps.summary || {};
    const asset = st.asset;
    clear(
      cards,
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Tainted addresses'), h('span', { class: 'stat-value', 'data-field': 'tainted_addresses' }, count(ps.tainted_addresses))),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Exits'), h('span', { class: 'stat-value', 'data-field': 'exits' }, count(ps.exits))),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Movements'), h('span', { class: 'stat-value', 'data-field': 'movements' }, count(ps.movements))),
      SUMMARY_FIELDS.map(([k, label]) =>
        h(
          'div',
          { class: `stat amount-stat stat-${k}`, 'data-field': k },
          h('span', { class: 'stat-label' }, label),
          h('span', { class: 'stat-value' }, amount(sm[k], asset)),
          h('span', { class: 'stat-base muted' }, formatAmount(sm[k], asset).title),
        ),
      ),
    );
  }

  async function loadGraph() {
    const seq = (st.graphSeq = (st.graphSeq || 0) + 1);
    canvas.dataset.state = 'loading';
    ctx.hook.graphReady = false;
    clear(graphStatus, loading('Loading the flow graph'));
    graphStatus.hidden = false;
    try {
      const fg = await api(paths.graph(name, st.policy, st.limit), { signal });
      if (seq !== st.graphSeq) return;
      const nodes = Array.isArray(fg.nodes) ? fg.nodes.length : 0;
      const edges = Array.isArray(fg.edges) ? fg.edges.length : 0;
      graphInfo.textContent =
        `${count(nodes)} of ${count(fg.total_nodes ?? nodes)} nodes, ${count(edges)} edges` + (fg.truncated ? ' (most tainted first)' : '');
      canvas.dataset.nodes = String(nodes);
      if (nodes === 0) {
        clear(graphStatus, h('p', { class: 'muted' }, 'Nothing tainted to draw.'));
      } else {
        graphStatus.hidden = true;
      }
      canvas.dataset.state = 'drawn-pending';
      st.flow.setData(fg);
      if (st.selected && !st.flow.graph.hasNode(st.selected.id)) showNode(null);
    } catch (e) {
      if (isAbort(e) || seq !== st.graphSeq) return;
      canvas.dataset.state = 'error';
      graphStatus.hidden = false;
      clear(graphStatus, errorBox(e, 'Loading the flow graph'));
      throw e;
    }
  }

  function showNode(node) {
    if (st.detailsAbort) st.detailsAbort.abort();
    st.detailsAbort = null;
    st.selected = node;
    if (!node) {
      details.dataset.state = 'empty';
      details.dataset.node = '';
      clear(details, h('h2', null, 'Node'), h('p', { class: 'muted' }, 'Click a node of the graph to see its address, taint and path.'));
      return;
    }
    const chain = st.summary.chain;
    const path = h('div', { class: 'node-path' }, loading('Screening the address'));
    const others = h('div', { class: 'node-others' });
    details.dataset.state = 'loading';
    details.dataset.node = node.id;
    clear(
      details,
      h('h2', null, 'Node ', h('span', { class: `chip kind kind-${node.kind}`, 'data-field': 'kind' }, node.kind)),
      h('p', { class: 'mono node-address', 'data-field': 'address' }, node.address),
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'Label'),
        h('dd', { 'data-field': 'label' }, node.name || h('span', { class: 'muted' }, 'none')),
        h('dt', null, 'Taint'),
        h('dd', { 'data-field': 'taint' }, amount(node.taint, st.asset)),
        h('dt', null, 'Holding'),
        h('dd', { 'data-field': 'holding' }, node.holding === null || node.holding === undefined ? h('span', { class: 'muted' }, '—') : amount(node.holding, st.asset)),
        h('dt', null, 'Hop'),
        h('dd', { 'data-field': 'hop' }, node.hop === null || node.hop === undefined ? '—' : String(node.hop)),
      ),
      h('h3', null, 'Path from the seeds'),
      path,
      others,
      h('p', null, h('a', { class: 'button', href: addressHref(chain, node.address), 'data-field': 'address-link' }, 'Open the address page →')),
    );
    const ac = new AbortController();
    st.detailsAbort = ac;
    const abortBoth = () => ac.abort();
    signal.addEventListener('abort', abortBoth, { once: true });
    api(paths.screen(chain, node.address), { signal: ac.signal })
      .then((r) => {
        const hits = (r.hits || []).filter((x) => x.incident === name && x.policy === st.policy);
        const exit = st.exits.find((x) => x.address === node.address);
        if (hits.length === 0 && exit) {
          // The trace stops at an exit, so the screening index has no hit for it: the
          // exit list has its path.
          clear(
            path,
            h('p', { class: 'small' }, 'Exit: ', amount(exit.amount, exit.asset), ` in ${count(exit.transfers)} transfer${exit.transfers === 1 ? '' : 's'}; path of the first:`),
            txPath(exit.path, { open: true }),
            h('p', { class: 'small' }, h('a', { href: exit.report || paths.exitReport(name, exit.address, st.policy), target: '_blank', rel: 'noopener' }, 'Evidence report of this exit')),
          );
        } else if (hits.length === 0 && node.kind === 'seed') {
          clear(path, h('p', { class: 'muted' }, 'A seed of the incident: the taint starts here.'));
        } else if (hits.length === 0) {
          clear(path, h('p', { class: 'muted' }, 'The screening index has no path for this address under this policy.'));
        } else {
          clear(
            path,
            hits.map((x) =>
              h(
                'div',
                { class: 'hit', 'data-asset': x.asset },
                hits.length > 1 ? h('p', { class: 'small' }, x.asset, ': ', amount(x.taint, x.asset)) : null,
                x.first_tx ? h('p', { class: 'small' }, 'First tainted receipt: ', h('code', { class: 'tx' }, x.first_tx)) : null,
                txPath(x.path, { open: true }),
                x.path_len > (x.path || []).length ? h('p', { class: 'muted small' }, `${x.path_len} hops in all`) : null,
              ),
            ),
          );
        }
        const labels = (r.labels || []).map((l) => `${l.name}${l.kind ? ` (${l.kind})` : ''}`);
        const elsewhere = (r.hits || []).filter((x) => !(x.incident === name && x.policy === st.policy));
        clear(
          others,
          labels.length ? h('p', { class: 'small' }, 'Labels: ', labels.join('; ')) : null,
          elsewhere.length
            ? h(
                'p',
                { class: 'small' },
                'Also tainted under: ',
                elsewhere.slice(0, 10).map((x, i) => [i ? ', ' : '', h('a', { href: incidentHref(x.incident, x.policy) }, `${x.incident} (${x.policy})`)]),
                elsewhere.length > 10 ? ` and ${elsewhere.length - 10} more` : '',
              )
            : null,
        );
        details.dataset.state = 'loaded';
      })
      .catch((e) => {
        if (isAbort(e)) return;
        clear(path, errorBox(e, 'Screening the address'));
        details.dataset.state = 'error';
      })
      .finally(() => signal.removeEventListener('abort', abortBoth));
  }

  async function loadHolders() {
    const seq = (st.holderSeq = (st.holderSeq || 0) + 1);
    try {
      const r = await api(paths.holders(name, st.policy, PAGE, st.offset), { signal });
      if (seq !== st.holderSeq) return;
      const rows = Array.isArray(r.holders) ? r.holders : [];
      if (st.asset === null && rows.length) st.asset = rows[0].asset ?? null;
      renderHolders(r.total ?? rows.length, rows);
    } catch (e) {
      if (isAbort(e) || seq !== st.holderSeq) return;
      clear(holders, errorBox(e, 'Loading the holders'));
      throw e;
    } finally {
      if (st.asset === null && st.summary && (st.summary.chain === 'nem' || st.summary.chain === 'bitcoin')) {
        st.asset = nativeAsset(st.summary.chain);
      }
    }
  }

  function renderHolders(total, rows) {
    const chain = st.summary.chain;
    const from = rows.length ? st.offset + 1 : 0;
    const to = st.offset + rows.length;
    const prev = h('button', { type: 'button', disabled: st.offset === 0, onclick: () => page(-1) }, '← Previous');
    const next = h('button', { type: 'button', disabled: to >= total, onclick: () => page(1) }, 'Next →');
    clear(
      holders,
      h('p', { class: 'table-info' }, h('span', { 'data-field': 'holders-range' }, `${count(from)}–${count(to)}`), ' of ', h('span', { 'data-field': 'holders-total' }, count(total)), ' tainted holders, most tainted first.'),
      rows.length
        ? h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              { class: 'data', id: 'holders-table', 'data-total': total, 'data-offset': st.offset },
              h(
                'thead',
                null,
                h('tr', null, ['#', 'address', 'label', 'taint', 'holding', 'balance', 'hop', 'first tx'].map((c, i) => h('th', { class: [3, 4, 5, 6].includes(i) || i === 0 ? 'num' : null }, c))),
              ),
              h(
                'tbody',
                null,
                rows.map((x, i) =>
                  h(
                    'tr',
                    { 'data-address': x.address },
                    h('td', { class: 'num muted' }, count(st.offset + i + 1)),
                    h('td', null, addressLink(chain, x.address)),
                    h('td', null, x.label ?? ''),
                    h('td', { class: 'num' }, amount(x.taint, x.asset)),
                    h('td', { class: 'num' }, x.holding === null || x.holding === undefined ? '—' : amount(x.holding, x.asset)),
                    h('td', { class: 'num' }, x.balance === null || x.balance === undefined ? '—' : amount(x.balance, x.asset)),
                    h('td', { class: 'num' }, x.hop ?? '—'),
                    h('td', null, x.first_tx ? h('code', { class: 'tx', title: x.first_tx }, short(x.first_tx)) : '—'),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No tainted holder.'),
      total > PAGE ? h('div', { class: 'pager' }, prev, next) : null,
    );
  }

  function page(dir) {
    st.offset = Math.max(0, st.offset + dir * PAGE);
    loadHolders().catch(() => {});
  }

  async function loadExits() {
    try {
      const r = await api(paths.exits(name, st.policy), { signal });
      const rows = Array.isArray(r) ? r : Array.isArray(r.exits) ? r.exits : [];
      st.exits = rows;
      if (st.asset === null && rows.length) st.asset = rows[0].asset ?? null;
      renderExits(rows);
    } catch (e) {
      if (isAbort(e)) return;
      clear(exits, errorBox(e, 'Loading the exits'));
      throw e;
    }
  }

  function renderExits(rows) {
    const chain = st.summary.chain;
    clear(
      exits,
      h('p', { class: 'table-info' }, h('span', { 'data-field': 'exits-total' }, count(rows.length)), ` exit${rows.length === 1 ? '' : 's'}: labelled addresses where the trace stops (exchanges, services).`),
      rows.length
        ? h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              { class: 'data', id: 'exits-table', 'data-total': rows.length },
              h('thead', null, h('tr', null, ['address', 'label', 'amount', 'transfers', 'path', 'evidence'].map((c, i) => h('th', { class: i === 2 || i === 3 ? 'num' : null }, c)))),
              h(
                'tbody',
                null,
                rows.map((x) =>
                  h(
                    'tr',
                    { 'data-address': x.address },
                    h('td', null, addressLink(chain, x.address)),
                    h('td', null, x.label ?? ''),
                    h('td', { class: 'num' }, amount(x.amount, x.asset)),
                    h('td', { class: 'num' }, count(x.transfers)),
                    h('td', null, txPath(x.path)),
                    h('td', null, h('a', { href: x.report || paths.exitReport(name, x.address, st.policy), target: '_blank', rel: 'noopener', class: 'report-link' }, 'report')),
                  ),
                ),
              ),
            ),
          )
        : null,
    );
  }

  async function loadTimeline() {
    try {
      const tl = await api(paths.timeline(name, st.policy, 60), { signal });
      clear(timeline, renderTimeline(tl, st.asset));
    } catch (e) {
      if (isAbort(e)) return;
      clear(timeline, errorBox(e, 'Loading the timeline'));
      throw e;
    }
  }

  start();

  return () => {
    window.removeEventListener('beforeprint', beforePrint);
    window.removeEventListener('afterprint', afterPrint);
    if (printQuery) printQuery.removeEventListener('change', onPrintQuery);
    unsubscribe();
    clearTimeout(st.refreshTimer);
    if (st.detailsAbort) st.detailsAbort.abort();
    st.flow.kill();
    ctx.hook.sigma = null;
    ctx.hook.graph = null;
    ctx.hook.flow = null;
  };
}

function liveItem(a, incident) {
  if (a.type === 'status') return null;
  const d = a.data || {};
  const mine = d.incident === incident;
  const who = d.address || d.to || d.from || '';
  const chain = d.chain || null;
  return h(
    'li',
    { class: `live-item ${a.type}${mine ? ' mine' : ''}`, 'data-type': a.type, 'data-incident': d.incident || '' },
    h('span', { class: `chip ${a.type === 'retract' ? 'retract' : 'alert'}` }, a.type === 'retract' ? 'retracted' : d.kind || 'alert'),
    ' ',
    d.incident ? h('strong', null, d.incident) : null,
    who ? [' ', chain ? h('a', { href: addressHref(chain, who), class: 'addr' }, short(who)) : h('code', null, short(who))] : null,
    d.amount !== undefined ? [' ', amount(d.amount, d.asset)] : null,
    h(
      'span',
      { class: 'muted small live-where' },
      d.block !== undefined ? ` block ${d.block}` : '',
      d.tx ? ` · tx ${short(String(d.tx))}` : '',
      d.time !== undefined ? ` · ${typeof d.time === 'number' ? fmtTime(d.time) : d.time}` : '',
      d.raw ? ` ${d.raw}` : '',
    ),
    d.detail ? h('span', { class: 'small live-detail' }, d.detail) : null,
    a.type === 'retract' && d.reason ? h('span', { class: 'small live-detail' }, `Retracted: ${d.reason}`) : null,
  );
}
