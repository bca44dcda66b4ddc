'use strict';
/* The OBS overlay (/overlay/) in headless chromium against the real server. */
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Server, browser, closeBrowser, freshPage, watch, shot, until } = require('../lib/harness');

describe('OBS overlay', () => {
  let srv, br, session, made;
  before(async () => {
    srv = await new Server().start();
    br = await browser();
    session = (await srv.request('POST', '/auth/login', { license_key: srv.newKey() })).body;
    const c = await srv.request('POST', '/me/overlay-tokens', { note: 'OBS test' }, session.ws_token);
    assert.equal(c.status, 200);
    made = c.body;
  });
  after(async () => {
    await closeBrowser(br);
    if (srv) await srv.stop();
  });

  it('shows chat and gifts, speaks and plays them, on a transparent page', async () => {
    const page = await freshPage(br);
    const seen = await watch(page);
    assert.match(made.url, /^http:\/\/127\.0\.0\.1:\d+\/overlay\/#token=TTO-[A-Z2-7]{26}$/);
    await page.goto(made.url + '&hold=0', { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.state === 'connected', { timeout: 10000 });
    assert.ok(seen.sockets.some((u) => u.endsWith('/overlay/ws/' + made.token)), seen.sockets.join(' '));
    /* never the license key or the ws_token in the page's requests */
    assert.ok(!seen.requests.some((u) => u.includes(session.ws_token)));
    const bg = await page.evaluate(() => [getComputedStyle(document.documentElement).backgroundColor,
                                          getComputedStyle(document.body).backgroundColor]);
    assert.deepEqual(bg, ['rgba(0, 0, 0, 0)', 'rgba(0, 0, 0, 0)']);
    await srv.ingest([{ channel: session.user_id, type: 'chat', user: 'Aruka', message: 'Hi OBS!' },
                      { channel: session.user_id, type: 'gift', user: 'Dana', gift_name: 'Rose', count: 5 }]);
    await page.waitForFunction(() => document.querySelectorAll('#feed .card').length === 2);
    const cards = await page.$$eval('#feed .card', (l) => l.map((c) => c.className + ': ' + c.textContent));
    assert.match(cards[0], /gift.*Dana.*sent Rose ×5/);
    assert.match(cards[1], /chat.*Aruka.*Hi OBS!/);
    const anim = await page.$eval('#feed .card', (c) => getComputedStyle(c).animationName);
    assert.equal(anim, 'enter');
    const played = await until('speech and gift played', async () => {
      const p = await page.evaluate(() => ({ state: ttbOverlay.player.state(), played: ttbOverlay.player.stats.played }));
      return p.played.tts >= 1 && p.played.gift >= 1 && p;
    });
    assert.equal(played.state, 'running');
    assert.ok(seen.requests.some((u) => /\/tts\/[0-9a-f]+\.ogg$/.test(u)));
    assert.ok(seen.requests.some((u) => /\/sounds\/[a-z_-]+\.ogg$/.test(u)));
    await page.setViewport({ width: 720, height: 300 });
    await shot(page, 'overlay', { omitBackground: true });
    await page.close();
  });

  it('the socket only receives, and a revoked token stops the overlay', async () => {
    const page = await freshPage(br);
    await watch(page);
    await page.goto(made.url, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.state === 'connected', { timeout: 10000 });
    const d = await srv.request('DELETE', '/me/overlay-tokens', { id: made.id }, session.ws_token);
    assert.equal(d.status, 200);
    await page.waitForSelector('#problem:not([hidden])', { timeout: 5000 });
    assert.match(await page.$eval('#problem', (e) => e.textContent), /revoked/);
    await shot(page, 'overlay-revoked');
    await page.close();
    /* a link without a token says what to do */
    const bare = await freshPage(br);
    await bare.goto(srv.url + '/overlay/', { waitUntil: 'load' });
    assert.match(await bare.$eval('#problem', (e) => e.textContent), /no overlay token/);
    await bare.close();
  });
});
