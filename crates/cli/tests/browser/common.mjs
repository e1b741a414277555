// What the browser scripts share: the browser launch (Debian's chromium through
// playwright-core, a fresh profile), the watch over every request and console message,
// the API as the source of every expected value, and the `ok …` / `FAIL …` lines that
// crates/cli/tests/browser.rs reads.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (k, d) => process.env[k] ?? d;

export const BASE = (env('ASHIATO_URL') || '').replace(/\/$/, '');
export const OUT = env('ASHIATO_OUT', os.tmpdir());
export const TIMEOUT = Number(env('ASHIATO_STEP_TIMEOUT_MS', '45000'));
export const enc = encodeURIComponent;

if (!BASE) {
  console.log('FAIL ASHIATO_URL is not set');
  process.exit(2);
}
const origin = new URL(BASE);
const started = Date.now();

export function ok(msg) {
  console.log(`ok ${msg}`);
}

export function fail(msg) {
  throw new Error(msg);
}

export function check(cond, msg) {
  if (!cond) fail(msg);
}

export function eq(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

/** GET an API path from here (not through the page): `{status, body}`. */
export async function api(p) {
  const r = await fetch(BASE + p);
  const text = await r.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`${p}: answered ${r.status} with no JSON: ${text.slice(0, 200)}`);
  }
  return { status: r.status, body };
}

/**
 * Launches chromium with a fresh profile and one page; records every request that
 * leaves 127.0.0.1:PORT, every console error and every uncaught page error.
 */
export async function launch() {
  const require = createRequire(import.meta.url);
  const { chromium } = require(env('PLAYWRIGHT_CORE', 'playwright-core'));
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ashiato-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: env('ASHIATO_CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--enable-unsafe-swiftshader',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1440, height: 1000 },
    deviceScaleFactor: 1,
    timeout: 60000,
  });
  context.setDefaultTimeout(TIMEOUT);
  const b = {
    context,
    userDataDir,
    page: context.pages()[0] || (await context.newPage()),
    requests: [],
    outside: [],
    consoleErrors: [],
    pageErrors: [],
    // Requests a script makes fail on purpose (a malformed address): the browser logs a
    // "Failed to load resource" console error for each, expected there only.
    expectedFailures: new Set(),
  };
  context.on('request', (req) => {
    const url = req.url();
    b.requests.push(url);
    let u;
    try {
      u = new URL(url);
    } catch {
      b.outside.push(url);
      return;
    }
    if (u.protocol === 'data:' || u.protocol === 'blob:') return;
    if (u.hostname !== '127.0.0.1' || u.port !== origin.port) b.outside.push(url);
  });
  b.page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const loc = m.location() || {};
    if (/^Failed to load resource/.test(m.text()) && b.expectedFailures.has(loc.url)) return;
    b.consoleErrors.push(`${m.text()} (${loc.url || 'no url'})`);
  });
  b.page.on('pageerror', (e) => b.pageErrors.push(String(e && e.stack ? e.stack : e)));
  return b;
}

/** Waits until the page's current view has loaded everything it asked for. */
export async function waitLoaded(page, what) {
  await page
    .waitForFunction(() => window.__ashiato && window.__ashiato.loaded === true, null, { timeout: TIMEOUT })
    .catch(() => fail(`${what}: the page did not finish loading within ${TIMEOUT} ms`));
}

/** Routes the page to `hash` and waits for the new view (never the old one's flag). */
export async function goto(page, hash, what) {
  await page.evaluate((h) => {
    if (window.__ashiato) window.__ashiato.loaded = false;
    location.hash = h;
  }, hash);
  await waitLoaded(page, what);
}

/** The closing checks every script ends with: local requests, clean console. */
export function finalChecks(b) {
  check(b.pageErrors.length === 0, `uncaught errors in the page:\n${b.pageErrors.join('\n')}`);
  ok('no uncaught page error');
  check(b.outside.length === 0, `requests outside ${origin.host}:\n${b.outside.join('\n')}`);
  ok(`${b.requests.length} requests, all to ${origin.host}`);
  check(b.consoleErrors.length === 0, `console errors:\n${b.consoleErrors.join('\n')}`);
  ok('console has no error');
}

/** Runs `body(b)` in a fresh browser; prints FAIL and a screenshot on failure; exits. */
export async function run(name, body) {
  let code = 0;
  let b = null;
  try {
    b = await launch();
    await body(b);
    finalChecks(b);
    console.log(`all ${name} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    code = 1;
    console.log(`FAIL ${e && e.message ? e.message : e}`);
    if (b) {
      try {
        const file = path.join(OUT, `${name}-failure.png`);
        await b.page.screenshot({ path: file, fullPage: true });
        console.log(`screenshot of the failure: ${file}`);
      } catch {
        // The browser may be gone.
      }
      if (b.consoleErrors.length) console.log(`console errors so far:\n${b.consoleErrors.join('\n')}`);
      if (b.pageErrors.length) console.log(`page errors so far:\n${b.pageErrors.join('\n')}`);
    }
  } finally {
    if (b) {
      await b.context.close().catch(() => {});
      fs.rmSync(b.userDataDir, { recursive: true, force: true });
    }
  }
  process.exit(code);
}

/** Waits until the page's flow graph is drawn (`window.__ashiato.graphReady`). */
export async function waitGraphReady(page, what, timeout = TIMEOUT) {
  await page
    .waitForFunction(() => window.__ashiato && window.__ashiato.graphReady === true, null, { timeout })
    .catch(() => fail(`${what}: the flow graph was not drawn within ${timeout} ms`));
}

/** The sigma camera's state in the page: `{x, y, ratio, angle}`. */
export async function cameraState(page) {
  return page.evaluate(() => ({ ...window.__ashiato.sigma.getCamera().getState() }));
}
