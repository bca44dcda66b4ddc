'use strict';
/* The web app (/app/) in headless chromium against the real server. */
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Server, browser, closeBrowser, freshPage, watch, shot, until, login } = require('../lib/harness');

describe('web app', () => {
  let srv, br;
  before(async () => {
    srv = await new Server().start();
    br = await browser();
  });
  after(async () => {
    await closeBrowser(br);
    if (srv) await srv.stop();
  });

  const stats = (page) => page.evaluate(() => ({
    state: ttbApp.player.state(),
    played: Object.assign({}, ttbApp.player.stats.played),
    log: Array.from(document.querySelectorAll('#log li')).map((li) => li.textContent),
  }));

  it('a bad key shows the error', async () => {
    const page = await freshPage(br);
    await watch(page);
    await page.goto(srv.url + '/app/', { waitUntil: 'load' });
    await shot(page, 'app-login');
    await page.type('#key', 'TTB-NOTAKEYNOTAKEYNOTAKEYNOTA');
    await page.click('#login-button');
    await page.waitForSelector('#login-error:not([hidden])', { timeout: 10000 });
    const text = await page.$eval('#login-error', (e) => e.textContent);
    assert.match(text, /not known/);
    assert.equal(await page.$eval('#home', (e) => e.hidden), true);
    assert.equal(await page.evaluate(() => localStorage.getItem('ttb.session')), null);
    await shot(page, 'app-login-error');
    await page.close();
  });

  it('logs in, shows "connected", speaks a chat and plays a gift', async () => {
    const page = await freshPage(br);
    const seen = await watch(page);
    const session = await login(page, srv, srv.newKey());
    assert.match(await page.$eval('#conn-text', (e) => e.textContent), /connected to server/);
    assert.ok(seen.sockets.some((u) => u.endsWith('/ws/' + session.ws_token)), seen.sockets.join(' '));
    /* the page is served with its font and a strict CSP, and nothing broke it */
    assert.equal(await page.evaluate(() => document.fonts.check('16px Inter')), true);
    await srv.ingest([{ channel: session.user_id, type: 'chat', user: 'Aruka', message: 'Hello from the browser test' }]);
    await page.waitForFunction(() => document.querySelector('#log li') &&
                               document.querySelector('#log li').textContent.includes('Hello from the browser test'));
    const s = await until('speech played', async () => { const x = await stats(page); return x.played.tts >= 1 && x; });
    assert.equal(s.state, 'running');
    const tts = seen.requests.filter((u) => /\/tts\/[0-9a-f]+\.ogg$/.test(u));
    assert.equal(tts.length, 1, 'one speech fetch: ' + tts.join(' '));
    assert.equal(seen.responses.get(tts[0]), 200);
    await srv.ingest([{ channel: session.user_id, type: 'gift', user: 'Dana', gift_name: 'Rose', count: 3 }]);
    await page.waitForFunction(() => document.querySelector('#log li').textContent.includes('sent Rose ×3'));
    await until('gift sound played', async () => (await stats(page)).played.gift >= 1);
    assert.ok(seen.requests.some((u) => /\/sounds\/[a-z_-]+\.ogg$/.test(u)), seen.requests.join(' '));
    /* several at once: two chats and two gifts in one batch; the gifts play over the speech */
    await srv.ingest([
      { channel: session.user_id, type: 'chat', user: 'A', message: 'first of two, a rather long sentence to keep speaking' },
      { channel: session.user_id, type: 'gift', user: 'B', gift_name: 'Rose', count: 1 },
      { channel: session.user_id, type: 'gift', user: 'C', gift_name: 'Lion', count: 1 },
      { channel: session.user_id, type: 'chat', user: 'D', message: 'second of two' },
    ]);
    await until('both gifts and both chats played', async () => {
      const x = await stats(page);
      return x.played.tts >= 3 && x.played.gift >= 3;
    }, 20000);
    const log = (await stats(page)).log;
    assert.equal(log.length, 5, 'the log keeps 5 lines: ' + log.join(' | '));
    assert.match(log[0], /second of two/);
    await shot(page, 'app-home');
    assert.deepEqual(seen.console.filter((l) => /pageerror|Content Security Policy/.test(l)), []);
    await page.close();
  });

  it('the switches and sliders change what plays', async () => {
    const page = await freshPage(br);
    const seen = await watch(page);
    const session = await login(page, srv, srv.newKey());
    /* speech off: the chat is logged, not fetched, not played; the gift plays */
    await page.click('label:has(#sw-tts)');
    assert.equal(await page.$eval('#tts-state', (e) => e.textContent), 'OFF');
    await srv.ingest([{ channel: session.user_id, type: 'chat', user: 'Quiet', message: 'not to be read' },
                      { channel: session.user_id, type: 'gift', user: 'G', gift_name: 'Rose', count: 1 }]);
    await until('gift played', async () => (await stats(page)).played.gift >= 1);
    let s = await stats(page);
    assert.ok(s.log.some((l) => l.includes('not to be read')));
    assert.equal(s.played.tts, 0);
    assert.equal(seen.requests.filter((u) => u.includes('/tts/')).length, 0);
    await shot(page, 'app-home-switches');
    /* gifts off, speech on: the opposite */
    await page.click('label:has(#sw-gifts)');
    await page.click('label:has(#sw-tts)');
    await srv.ingest([{ channel: session.user_id, type: 'gift', user: 'G', gift_name: 'Rose', count: 2 },
                      { channel: session.user_id, type: 'chat', user: 'Loud', message: 'read this one' }]);
    await until('speech played', async () => (await stats(page)).played.tts >= 1);
    await page.waitForFunction(() => document.querySelector('#log li').textContent.includes('read this one'));
    s = await stats(page);
    assert.equal(s.played.gift, 1, 'the second gift was not played');
    /* the sliders set each kind's gain; the profanity filter keeps a chat from being read */
    await page.click('#to-settings');
    await page.waitForSelector('#settings:not([hidden])');
    for (const [id, v] of [['#tts-vol', 25], ['#gift-vol', 60]]) {
      await page.$eval(id, (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', { bubbles: true })); }, v);
    }
    const gains = await page.evaluate(() => [ttbApp.player.gains.tts.gain.value, ttbApp.player.gains.gift.gain.value]);
    assert.ok(Math.abs(gains[0] - 0.25) < 1e-6 && Math.abs(gains[1] - 0.6) < 1e-6, String(gains));
    assert.equal(await page.$eval('#tts-vol-out', (e) => e.textContent), '25');
    /* what comes out of the gifts' gain, measured: loud at 100, silent at 0 */
    await page.evaluate(() => {
      const p = ttbApp.player;
      window.tap = p.ctx.createAnalyser();
      window.tap.fftSize = 2048;
      p.gains.gift.connect(window.tap);
      window.peak = 0;
      const buf = new Float32Array(2048);
      setInterval(() => {
        window.tap.getFloatTimeDomainData(buf);
        for (const v of buf) window.peak = Math.max(window.peak, Math.abs(v));
      }, 10);
    });
    await page.click('#back');
    await page.click('label:has(#sw-gifts)'); /* gifts on again */
    await page.click('#to-settings');
    const level = async (vol, n) => {
      await page.$eval('#gift-vol', (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', { bubbles: true })); }, vol);
      await new Promise((r) => setTimeout(r, 300)); /* the analyser's window (43 ms) holds nothing from before */
      await page.evaluate(() => { window.peak = 0; });
      await srv.ingest([{ channel: session.user_id, type: 'gift', user: 'G', gift_name: 'Rose', count: n }]);
      await until('gift ' + n + ' played', async () => (await stats(page)).played.gift >= n - 1);
      await new Promise((r) => setTimeout(r, 700)); /* the sound plays */
      return page.evaluate(() => window.peak);
    };
    const loud = await level(100, 2);
    const silent = await level(0, 3);
    assert.ok(loud > 0.01, 'the gift is heard at 100: peak ' + loud);
    assert.equal(silent, 0, 'nothing is heard at 0');
    await page.$eval('#gift-vol', (e) => { e.value = '60'; e.dispatchEvent(new Event('input', { bubbles: true })); });
    await page.evaluate(() => document.getElementById('overlay-new').click());
    await page.waitForSelector('#overlay-url:not([hidden])');
    assert.match(await page.$eval('#overlay-url', (e) => e.textContent), /\/overlay\/#token=TTO-[A-Z2-7]{26}$/);
    await shot(page, 'app-settings');
    await page.click('#back');
    await srv.ingest([{ channel: session.user_id, type: 'chat', user: 'Rude', message: 'what the fuck' }]);
    await page.waitForFunction(() => document.querySelector('#log li').textContent.includes('not read: profanity'));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await stats(page)).played.tts, 1, 'the profane chat was not read');
    /* the settings are kept by the browser */
    await page.reload({ waitUntil: 'load' });
    await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'connected');
    assert.equal(await page.$eval('#sw-gifts', (e) => e.checked), true);
    assert.equal(await page.$eval('#gift-vol', (e) => e.value), '60');
    assert.equal(await page.$eval('#tts-vol', (e) => e.value), '25');
    await page.close();
  });

  it('reconnects with ?since= and loses nothing', async () => {
    const page = await freshPage(br);
    const seen = await watch(page);
    const session = await login(page, srv, srv.newKey());
    await srv.ingest([{ channel: session.user_id, type: 'chat', user: 'One', message: 'before the drop' }]);
    await page.waitForFunction(() => document.querySelector('#log li') &&
                               document.querySelector('#log li').textContent.includes('before the drop'));
    /* the socket drops; an event comes while it is down; the page resumes from its last seq */
    await page.evaluate(() => { ttbApp.channel.backoff = 1500; ttbApp.channel.drop(); });
    await page.waitForFunction(() => document.getElementById('conn').dataset.state !== 'connected');
    await srv.ingest([{ channel: session.user_id, type: 'chat', user: 'Two', message: 'while offline' }]);
    await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'connected', { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('#log li').textContent.includes('while offline'));
    const resumed = seen.sockets.filter((u) => /\?since=\d+$/.test(u));
    assert.equal(resumed.length, 1, seen.sockets.join(' '));
    assert.match(resumed[0], /\/ws\/[0-9a-f-]+\?since=1$/);
    const lines = await page.$$eval('#log li', (l) => l.map((x) => x.textContent));
    assert.equal(lines.filter((l) => l.includes('before the drop')).length, 1, 'nothing twice');
    await shot(page, 'app-home-resumed');
    /* logging out ends the session: the login screen comes back */
    await page.click('#to-settings');
    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    await page.close();
  });
});
