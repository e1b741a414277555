// Address: the screening verdict of one address, or the API's reason for refusing it.

import { api, paths, isAbort } from './api.js';
import { h, clear, amount, loading, errorBox, incidentHref, txPath, count } from './dom.js';

export function addressView(root, { chain, address }, ctx) {
  const body = h('div', { class: 'screen-result' }, loading('Screening'));
  clear(
    root,
    h(
      'section',
      { class: 'address-head' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Incidents'), ' / address'),
      h('h1', null, 'Address screening'),
      h('p', { class: 'mono big-address', 'data-field': 'address' }, address),
      h('p', null, h('span', { class: `chip chain-${chain}` }, chain)),
    ),
    body,
  );
  api(paths.screen(chain, address), { signal: ctx.signal })
    .then((r) => {
      clear(body, verdict(r));
      ctx.done();
    })
    .catch((e) => {
      if (isAbort(e)) return;
      clear(body, errorBox(e, 'Screening'));
      ctx.done();
    });
}

function verdict(r) {
  const hits = Array.isArray(r.hits) ? r.hits : [];
  const labels = Array.isArray(r.labels) ? r.labels : [];
  const tainted = r.tainted === true;
  const incidents = [...new Set(hits.map((x) => x.incident))];
  return [
    h(
      'div',
      { class: `verdict ${tainted ? 'tainted' : 'clean'}`, 'data-tainted': String(tainted) },
      h('strong', { class: 'verdict-word' }, tainted ? 'Tainted' : 'Not tainted'),
      h(
        'span',
        null,
        tainted
          ? ` — reached by ${count(incidents.length)} incident${incidents.length === 1 ? '' : 's'} under ${count(hits.length)} incident/policy/asset trace${hits.length === 1 ? '' : 's'}.`
          : ' — no served trace of any stored incident reaches this address.',
      ),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Labels'),
      labels.length
        ? h(
            'table',
            { class: 'data compact labels' },
            h('thead', null, h('tr', null, ['name', 'kind', 'source', 'confidence'].map((c) => h('th', null, c)))),
            h(
              'tbody',
              null,
              labels.map((l) =>
                h(
                  'tr',
                  null,
                  h('td', null, l.name ?? ''),
                  h('td', null, l.kind ?? ''),
                  h('td', null, l.source ?? ''),
                  h('td', null, l.confidence === undefined || l.confidence === null ? '' : String(l.confidence)),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No label.'),
    ),
    hits.length
      ? h(
          'section',
          { class: 'card' },
          h('h2', null, 'Hits'),
          h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              { class: 'data hits' },
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  ['incident', 'policy', 'taint', 'holding', 'dust', 'hop', 'first tx', 'path'].map((c) => h('th', null, c)),
                ),
              ),
              h(
                'tbody',
                null,
                hits.map((x) =>
                  h(
                    'tr',
                    { 'data-incident': x.incident, 'data-policy': x.policy },
                    h('td', null, h('a', { href: incidentHref(x.incident, x.policy) }, x.incident)),
                    h('td', null, x.policy),
                    h('td', { class: 'num', 'data-field': 'taint' }, amount(x.taint, x.asset)),
                    h('td', { class: 'num' }, x.holding === null || x.holding === undefined ? '—' : amount(x.holding, x.asset)),
                    h('td', { class: 'num' }, amount(x.dust, x.asset)),
                    h('td', { class: 'num' }, x.hop ?? '—'),
                    h('td', null, x.first_tx ? h('code', { class: 'tx' }, x.first_tx) : '—'),
                    h('td', null, txPath(x.path), x.path_len > (x.path || []).length ? h('span', { class: 'muted' }, ` (${x.path_len} hops)`) : null),
                  ),
                ),
              ),
            ),
          ),
        )
      : null,
  ];
}
