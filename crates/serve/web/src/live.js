// The live alert stream: one EventSource on /api/v1/alerts for the whole page, kept
// across views. Views subscribe to hear each alert or retraction as it arrives.

import { paths } from './api.js';

const MAX_KEPT = 200;
const listeners = new Set();
const state = { source: null, status: 'off', alerts: [] };
// On connecting, the stream first replays the whole alert log: those records are the
// past, already in the data a view loaded, and must not make it refetch. The replay
// arrives as one burst; the stream is live once it has been quiet for BACKLOG_QUIET_MS.
const BACKLOG_QUIET_MS = 500;
let backlog = true;
let quietTimer = null;

function quietAfter() {
  clearTimeout(quietTimer);
  quietTimer = setTimeout(() => {
    backlog = false;
    setStatus('live');
  }, BACKLOG_QUIET_MS);
}

function parse(ev, type) {
  let data = null;
  try {
    data = JSON.parse(ev.data);
  } catch {
    data = { raw: String(ev.data) };
  }
  if (data === null || typeof data !== 'object') data = { raw: String(ev.data) };
  return { type, seq: ev.lastEventId || null, data, received: Date.now(), backlog };
}

function emit(item) {
  for (const l of listeners) {
    try {
      l(item);
    } catch (e) {
      console.warn('live listener failed', e);
    }
  }
}

function push(item) {
  state.alerts.unshift(item);
  if (state.alerts.length > MAX_KEPT) state.alerts.length = MAX_KEPT;
  emit(item);
}

function setStatus(s) {
  if (state.status === s) return;
  state.status = s;
  emit({ type: 'status', status: s });
}

export function startLive() {
  if (state.source || typeof EventSource === 'undefined') return;
  const es = new EventSource(paths.alerts());
  state.source = es;
  setStatus('connecting');
  es.addEventListener('open', () => {
    // A reconnection resumes after Last-Event-ID: nothing old is replayed then.
    if (state.status === 'connecting') quietAfter();
    else setStatus('live');
  });
  const on = (type) => (ev) => {
    if (backlog) quietAfter();
    push(parse(ev, type));
  };
  es.addEventListener('alert', on('alert'));
  es.addEventListener('retract', on('retract'));
  es.addEventListener('error', () => {
    // EventSource reconnects by itself unless the server refused the stream outright.
    setStatus(es.readyState === EventSource.CLOSED ? 'unavailable' : 'reconnecting');
  });
}

export function liveState() {
  return state;
}

export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
