// A tiny DOM builder. Text from the API only ever becomes text nodes or attribute
// values, never markup.

import { formatAmount } from './amount.js';
import { enc } from './api.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** An exact amount: the unit's text, the base units in the title, the raw string in data-raw. */
export function amount(v, asset, cls = '') {
  const f = formatAmount(v, asset);
  return h('span', { class: `amt ${cls}`.trim(), title: f.title || null, 'data-raw': f.raw }, f.text);
}

export function short(address) {
  if (typeof address !== 'string') return '';
  return address.length > 16 ? `${address.slice(0, 8)}…${address.slice(-6)}` : address;
}

export function addressHref(chain, address) {
  return `#/address/${enc(chain)}/${enc(address)}`;
}

export function incidentHref(name, policy) {
  return `#/incident/${enc(name)}` + (policy ? `?policy=${enc(policy)}` : '');
}

export function addressLink(chain, address, { full = true } = {}) {
  return h('a', { class: 'addr', href: addressHref(chain, address), title: address }, full ? address : short(address));
}

/** A transaction path, first hop first; long paths fold. */
export function txPath(path, { open = false } = {}) {
  if (!Array.isArray(path) || path.length === 0) return h('span', { class: 'muted' }, '—');
  const list = h('ol', { class: 'txpath' }, path.map((tx) => h('li', null, h('code', { class: 'tx' }, tx))));
  if (open || path.length === 1) return list;
  return h('details', { class: 'txpath-fold' }, h('summary', null, `${path.length} transactions`), list);
}

export function loading(what = 'Loading') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), `${what}…`);
}

export function errorBox(e, what) {
  const status = e && e.status ? ` (${e.status}${e.code ? ' ' + e.code : ''})` : '';
  return h(
    'div',
    { class: 'error', role: 'alert', 'data-code': (e && e.code) || 'error' },
    h('strong', null, what ? `${what} failed${status}: ` : `Error${status}: `),
    h('span', { class: 'error-message' }, (e && e.message) || String(e)),
  );
}

export function fmtTime(unix) {
  if (unix === null || unix === undefined || unix === '') return '—';
  const n = Number(unix);
  if (!Number.isFinite(n)) return String(unix);
  return new Date(n * 1000).toISOString().replace('T', ' ').replace(/\.000Z$/, ' UTC');
}

export function count(n) {
  if (typeof n === 'number') return n.toLocaleString('en-US');
  if (typeof n === 'string' && /^\d+$/.test(n)) return n.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n === null || n === undefined ? '—' : String(n);
}
