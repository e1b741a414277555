// Ashiato's tracking site: a single page routed by location.hash, talking only to the
// same-origin API of docs/serve.md.
//
//   #/                                  incidents
//   #/incident/<name>?policy=<p>        one incident under one policy
//   #/address/<chain>/<address>         screening of one address

import './style.css';
import { h, clear } from './dom.js';
import { homeView } from './home.js';
import { incidentView } from './incident.js';
import { addressView } from './address.js';

const view = document.getElementById('view');
const searchForm = document.getElementById('search');
const searchChain = document.getElementById('search-chain');
const searchInput = document.getElementById('search-address');

// A small hook for the browser test (and for debugging from the console): where the
// graph's nodes are on screen, and whether the current view has finished loading.
let resolveReady;
const hook = {
  version: 1,
  route: null,
  loaded: false,
  graphReady: false,
  refreshes: 0,
  refreshing: false,
  sigma: null,
  graph: null,
  flow: null,
  ready: new Promise((r) => (resolveReady = r)),
  nodeViewportPosition(id) {
    return hook.flow ? hook.flow.nodeViewportPosition(String(id)) : null;
  },
};
window.__ashiato = hook;

function parseHash() {
  let raw = location.hash.replace(/^#/, '');
  if (!raw.startsWith('/')) raw = '/' + raw;
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { parts, params, raw };
}

let current = null;

function render() {
  if (current) {
    current.abort.abort();
    try {
      if (current.cleanup) current.cleanup();
    } catch (e) {
      console.warn('view cleanup failed', e);
    }
    current = null;
  }
  const { parts, params, raw } = parseHash();
  const abort = new AbortController();
  hook.route = raw;
  hook.loaded = false;
  hook.graphReady = false;
  const ctx = {
    signal: abort.signal,
    hook,
    done() {
      if (abort.signal.aborted) return;
      hook.loaded = true;
      resolveReady();
    },
    setChain(chain) {
      if ([...searchChain.options].some((o) => o.value === chain)) searchChain.value = chain;
    },
  };
  current = { abort, cleanup: null };
  window.scrollTo(0, 0);
  try {
    if (parts.length === 0) {
      document.title = 'Incidents — Ashiato';
      current.cleanup = homeView(view, ctx);
    } else if (parts[0] === 'incident' && parts.length === 2) {
      document.title = `${parts[1]} — Ashiato`;
      current.cleanup = incidentView(view, { name: parts[1], policy: params.get('policy') }, ctx);
    } else if (parts[0] === 'address' && parts.length === 3) {
      document.title = `${parts[2]} — Ashiato`;
      ctx.setChain(parts[1]);
      searchInput.value = parts[2];
      current.cleanup = addressView(view, { chain: parts[1], address: parts[2] }, ctx);
    } else {
      document.title = 'Not found — Ashiato';
      clear(view, h('section', { class: 'card' }, h('h1', null, 'Nothing here'), h('p', null, 'This page does not exist. ', h('a', { href: '#/' }, 'See the incidents.'))));
      ctx.done();
    }
  } catch (e) {
    // A view that throws must not take the page down with it.
    console.warn('view failed', e);
    clear(view, h('div', { class: 'error', role: 'alert' }, `This view failed: ${e && e.message ? e.message : e}`));
    ctx.done();
  }
}

searchForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const address = searchInput.value.trim();
  if (!address) {
    searchInput.focus();
    return;
  }
  const target = `#/address/${encodeURIComponent(searchChain.value)}/${encodeURIComponent(address)}`;
  if (location.hash === target) render();
  else location.hash = target;
});

window.addEventListener('hashchange', render);
render();
