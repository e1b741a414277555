// Home: every served incident with its per-policy numbers.

import { api, paths, isAbort } from './api.js';
import { nativeAsset } from './amount.js';
import { h, clear, amount, loading, errorBox, incidentHref, addressLink, count } from './dom.js';

export function homeView(root, ctx) {
  const list = h('div', { class: 'incident-list' }, loading('Loading incidents'));
  clear(
    root,
    h(
      'section',
      { class: 'intro' },
      h('h1', null, 'Incidents'),
      h(
        'p',
        { class: 'lead' },
        'Every stored theft, traced under every served policy. Open one to follow the money hop by hop, ' +
          'or screen any address with the search box above.',
      ),
    ),
    list,
  );
  api(paths.incidents(), { signal: ctx.signal })
    .then((incidents) => {
      if (!Array.isArray(incidents)) throw new Error('/api/v1/incidents did not answer with a list');
      if (incidents.length === 0) {
        clear(list, h('p', { class: 'muted' }, 'The store holds no incident yet (ashiato incident add, or ingest a case).'));
      } else {
        clear(list, incidents.map((inc) => incidentCard(inc)));
      }
      ctx.done();
    })
    .catch((e) => {
      if (isAbort(e)) return;
      clear(list, errorBox(e, 'Loading the incidents'));
      ctx.done();
    });
}

function incidentCard(inc) {
  const policies = Array.isArray(inc.policies) ? inc.policies : [];
  const asset = inc.chain === 'nem' || inc.chain === 'bitcoin' ? nativeAsset(inc.chain) : null;
  const first = policies[0] ? policies[0].policy : null;
  return h(
    'article',
    { class: 'card incident-card', 'data-incident': inc.name },
    h(
      'header',
      null,
      h('h2', null, h('a', { href: incidentHref(inc.name, first) }, inc.name)),
      h('span', { class: `chip chain-${inc.chain}` }, inc.chain),
      h('span', { class: 'muted' }, `${count((inc.seeds || []).length)} seed${(inc.seeds || []).length === 1 ? '' : 's'}`),
      (inc.seed_txs || []).length ? h('span', { class: 'muted' }, `${count(inc.seed_txs.length)} seed transactions`) : null,
    ),
    inc.description ? h('p', { class: 'desc' }, inc.description) : null,
    (inc.seeds || []).length
      ? h(
          'p',
          { class: 'seeds' },
          'Seeds: ',
          inc.seeds.slice(0, 3).map((a, i) => [i ? ', ' : '', addressLink(inc.chain, a, { full: false })]),
          inc.seeds.length > 3 ? ` and ${inc.seeds.length - 3} more` : '',
        )
      : null,
    policies.length
      ? h(
          'div',
          { class: 'table-scroll' },
          h(
            'table',
            { class: 'data compact' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['policy', 'tainted addresses', 'exits', 'movements', 'entered', 'held', 'exited', 'dust'].map((c, i) =>
                  h('th', { class: i ? 'num' : null }, c),
                ),
              ),
            ),
            h(
              'tbody',
              null,
              policies.map((p) => {
                const sm = p.summary || {};
                return h(
                  'tr',
                  null,
                  h('td', null, h('a', { href: incidentHref(inc.name, p.policy) }, p.policy)),
                  h('td', { class: 'num' }, count(p.tainted_addresses)),
                  h('td', { class: 'num' }, count(p.exits)),
                  h('td', { class: 'num' }, count(p.movements)),
                  ['entered', 'held', 'exited', 'dust'].map((k) => h('td', { class: 'num' }, amount(sm[k], asset))),
                );
              }),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No policy served.'),
    asset ? null : h('p', { class: 'muted small' }, 'Amounts in base units.'),
  );
}
