/*
 * TTBoost overlay (/overlay/): for OBS's browser source. Configured by its
 * URL's fragment, which never leaves the browser:
 *   /overlay/#token=TTO-…&tts=1&gifts=1&tts_volume=80&gift_volume=80&max=5&hold=20&chat=1&position=bottom
 * token: an overlay token (read-only; made in the web app's settings or
 * POST /me/overlay-tokens). The page shows the latest chat and gifts as
 * cards that leave after `hold` seconds, and plays speech and gift sounds.
 */
(function () {
  'use strict';

  var q = new URLSearchParams(location.hash.replace(/^#/, '') || location.search.replace(/^\?/, ''));
  function num(k, d, lo, hi) {
    var v = Number(q.get(k));
    return q.has(k) && isFinite(v) ? Math.max(lo, Math.min(hi, v)) : d;
  }
  function flag(k, d) { return q.has(k) ? q.get(k) !== '0' && q.get(k) !== 'false' : d; }

  var cfg = {
    token: q.get('token') || '',
    tts: flag('tts', true),
    gifts: flag('gifts', true),
    chat: flag('chat', true),
    ttsVolume: num('tts_volume', 80, 0, 100),
    giftVolume: num('gift_volume', 80, 0, 100),
    max: num('max', 5, 1, 20),
    hold: num('hold', 20, 0, 3600)
  };
  var feed = document.getElementById('feed');
  if (q.get('position') === 'top') feed.classList.add('top');
  var player = new TTB.Player();
  player.setVolume('tts', cfg.ttsVolume / 100);
  player.setVolume('gift', cfg.giftVolume / 100);
  player.setEnabled('tts', cfg.tts);
  player.setEnabled('gift', cfg.gifts);

  function problem(text) {
    var p = document.getElementById('problem');
    p.textContent = text;
    p.hidden = !text;
  }

  function card(kind, who, what) {
    var li = document.createElement('li');
    li.className = 'card ' + kind;
    var w = document.createElement('span');
    w.className = 'who';
    w.textContent = who;
    var t = document.createElement('span');
    t.className = 'what';
    t.textContent = what;
    li.appendChild(w);
    li.appendChild(t);
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > cfg.max) feed.removeChild(feed.lastChild);
    if (cfg.hold > 0) {
      setTimeout(function () {
        li.classList.add('leaving');
        setTimeout(function () { if (li.parentNode) li.parentNode.removeChild(li); }, 650);
      }, cfg.hold * 1000);
    }
  }

  function onEvent(m) {
    if (m.type === 'chat') {
      if (cfg.chat) card('chat', m.user, m.message);
      player.say(m.tts_url);
    } else if (m.type === 'gift') {
      card('gift', m.user || 'Someone', 'sent ' + m.gift_name + ' ×' + m.count);
      player.gift(m.sound_url);
    } else if (m.type === 'error') {
      problem('TTBoost overlay: ' + (m.message || m.error)); /* e.g. too many sockets for the license */
    }
  }

  window.ttbOverlay = { player: player, cfg: cfg };
  if (!/^TTO-[A-Za-z2-7]{26}$/.test(cfg.token)) {
    problem('TTBoost overlay: this URL has no overlay token. Make a link in the TTBoost app: Settings, OBS overlay.');
    return;
  }
  /* OBS lets a browser source play sound; a browser tab may want a click */
  player.start().catch(function () {});
  document.addEventListener('click', function () { player.start().catch(function () {}); });
  var channel = new TTB.Channel({
    path: '/overlay/ws/' + encodeURIComponent(cfg.token),
    onevent: onEvent,
    onstate: function (state) {
      document.body.dataset.state = state;
      if (state === 'connected') problem('');
    },
    onfatal: function () {
      problem('TTBoost overlay: this overlay link was revoked, or the license is not valid. Make a new link in the app.');
    }
  });
  window.ttbOverlay.channel = channel;
  channel.connect();
})();
