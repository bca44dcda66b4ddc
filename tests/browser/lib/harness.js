'use strict';
/*
 * Harness of the browser tests: the real ttboost-server on 127.0.0.1 with an
 * ephemeral port and a temporary data dir (as tests/server_it/harness.c
 * does), licenses made with ttboost-admin, events posted to /ingest/events
 * with the ingest secret (TTBOOST_INGEST_SECRET), and Debian's chromium,
 * headless, driven by puppeteer-core.
 *
 * Environment: TTBOOST_SERVER and TTBOOST_ADMIN (default build/server/…),
 * CHROMIUM (default /usr/bin/chromium), TTB_SCREENSHOTS (default
 * var/screenshots).
 */
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const puppeteer = require('puppeteer-core');

const ROOT = path.resolve(__dirname, '../../..');
const SERVER = process.env.TTBOOST_SERVER || path.join(ROOT, 'build/server/ttboost-server');
const ADMIN = process.env.TTBOOST_ADMIN || path.join(ROOT, 'build/server/ttboost-admin');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.TTB_SCREENSHOTS || path.join(ROOT, 'var/screenshots');

class Server {
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttb-browser-'));
    this.secret = crypto.randomBytes(18).toString('base64url');
    this.proc = spawn(SERVER, ['--listen', '127.0.0.1:0', '--data-dir', this.dir, '--tiktok', 'off',
                               '--heartbeat-ms', '1000'], {
      env: Object.assign({}, process.env, { TTBOOST_INGEST_SECRET: this.secret }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.output = '';
    this.proc.stderr.on('data', (d) => { this.output += d; });
    this.url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not start: ' + this.output)), 15000);
      this.proc.stdout.on('data', (d) => {
        this.output += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(this.output);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      this.proc.on('exit', (code) => { clearTimeout(timer); reject(new Error('the server exited ' + code + ': ' + this.output)); });
    });
    return this;
  }

  admin(...args) {
    return execFileSync(ADMIN, ['--data-dir', this.dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  newKey() {
    const m = /TTB-[A-Z2-7]{26}/.exec(this.admin('license', 'create'));
    if (!m) throw new Error('no key from ttboost-admin');
    return m[0];
  }

  /* One request on a connection of its own, closed after the answer (no
   * keep-alive connection is left open when the server is stopped).
   * Resolves {status, body (parsed JSON)}. */
  request(method, path, body, bearer) {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? '' : (typeof body === 'string' ? body : JSON.stringify(body));
      const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), Connection: 'close' };
      if (bearer) headers.Authorization = 'Bearer ' + bearer;
      const req = http.request(this.url + path, { method, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          let js = null;
          try { js = JSON.parse(text); } catch (e) { js = text; }
          resolve({ status: res.statusCode, body: js });
        });
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  async ingest(events) {
    const r = await this.request('POST', '/ingest/events', events, this.secret);
    if (r.status !== 202 || r.body.status !== 'ok') throw new Error('ingest: ' + r.status + ' ' + JSON.stringify(r.body));
    return r.body;
  }

  /* SIGTERM; throws unless the server ended gracefully (exit 0: no crash,
   * and no sanitizer report when it is a sanitizer build). */
  async stop() {
    let code = this.proc ? this.proc.exitCode : 0;
    if (this.proc && code === null) {
      const done = new Promise((r) => this.proc.once('exit', (c, sig) => r(sig ? sig : c)));
      this.proc.kill('SIGTERM');
      code = await Promise.race([done, new Promise((r) => setTimeout(() => r('timeout'), 20000))]);
      if (code === 'timeout') this.proc.kill('SIGKILL');
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    if (code !== 0) throw new Error('the server did not end cleanly (' + code + '): ' + this.output.slice(-4000));
  }
}

/* Closes the browser, then gives the server a moment to see its
 * connections end (the server also ends cleanly with a browser's
 * keep-alive connection open: tests/server_it/test_overlay.c). */
async function closeBrowser(br) {
  if (!br) return;
  await br.close();
  await new Promise((r) => setTimeout(r, 300));
}

async function browser() {
  const args = ['--autoplay-policy=no-user-gesture-required', '--disable-gpu', '--no-first-run',
                '--disable-dev-shm-usage', '--window-size=480,900'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox'); /* chromium refuses root otherwise */
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args, defaultViewport: { width: 480, height: 900 } });
}

/* A page in a browser context of its own (its own localStorage: a new visitor). */
async function freshPage(br) {
  const ctx = await br.createBrowserContext();
  const page = await ctx.newPage();
  const close = page.close.bind(page);
  page.close = async () => { await close(); await ctx.close(); };
  return page;
}

/* Records the URLs a page requested (and their statuses) and the sockets it opened. */
async function watch(page) {
  const seen = { requests: [], responses: new Map(), sockets: [], console: [] };
  page.on('request', (r) => seen.requests.push(r.url()));
  page.on('response', (r) => seen.responses.set(r.url(), r.status()));
  page.on('console', (m) => seen.console.push(m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => seen.console.push('pageerror: ' + e.message));
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketCreated', (e) => seen.sockets.push(e.url));
  return seen;
}

async function shot(page, name, opts) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name + '.png');
  await page.screenshot(Object.assign({ path: file }, opts || {}));
  return file;
}

/* Polls fn (in the test) until it returns a truthy value. */
async function until(what, fn, ms = 10000) {
  const t0 = Date.now();
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() - t0 > ms) throw new Error('timed out waiting for ' + what + ' (last: ' + JSON.stringify(last) + ')');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/* Logs in through the login screen; resolves once the page shows "connected". */
async function login(page, srv, key) {
  await page.goto(srv.url + '/app/', { waitUntil: 'load' });
  await page.type('#key', key);
  await page.click('#login-button');
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'connected', { timeout: 10000 });
  return page.evaluate(() => JSON.parse(localStorage.getItem('ttb.session')));
}

module.exports = { Server, browser, closeBrowser, freshPage, watch, shot, until, login, ROOT };
