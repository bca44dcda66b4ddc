/*
 * TTBoost web app (/app/): the spec's three screens. Login with a license
 * key (POST /auth/login), home (speech, gifts and background switches, the
 * connection indicator, the last 5 events), settings (the two volumes, the
 * profanity filter, notifications, auto-start, the OBS overlay's links).
 * Everything but the session lives in this browser (localStorage).
 */
(function () {
  'use strict';

  var LOG_LINES = 5;
  var $ = function (id) { return document.getElementById(id); };
  var store = window.localStorage;

  var defaults = { tts: true, gifts: true, background: true, ttsVolume: 80, giftVolume: 80,
                   profanity: true, notify: false, autostart: false };
  var settings = Object.assign({}, defaults, readJSON('ttb.settings'));
  var session = readJSON('ttb.session');   /* {ws_token, user_id} */
  var player = new TTB.Player();
  var filter = new TTB.Filter();
  var channel = null;
  var events = [];                          /* the log, newest first */

  function readJSON(k) {
    try { return JSON.parse(store.getItem(k) || 'null') || undefined; } catch (e) { return undefined; }
  }
  function save() { store.setItem('ttb.settings', JSON.stringify(settings)); }

  function deviceId() {
    var id = store.getItem('ttb.device');
    if (!id) {
      var b = new Uint8Array(16);
      crypto.getRandomValues(b);
      id = 'web-' + Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
      store.setItem('ttb.device', id);
    }
    return id;
  }

  /* ------------------------------------------------------------ screens */

  function show(name) {
    ['login', 'home', 'settings'].forEach(function (s) { $(s).hidden = s !== name; });
    document.title = name === 'login' ? 'TTBoost' : 'TTBoost · ' + name;
    if (name === 'settings') listOverlays();
  }

  function route() {
    if (!session) { show('login'); return; }
    show(location.hash === '#settings' ? 'settings' : 'home');
  }

  /* -------------------------------------------------------------- login */

  function loginError(text) {
    $('login-error').textContent = text;
    $('login-error').hidden = !text;
  }

  $('login-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var key = $('key').value.trim();
    if (!key) { loginError('Type your license key.'); return; }
    loginError('');
    player.start().catch(function () {});   /* the click allows sound */
    $('login-button').disabled = true;
    fetch('/auth/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ license_key: key, device_id: deviceId() })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (js) { return { r: r, js: js }; });
    }).then(function (x) {
      $('login-button').disabled = false;
      if (!x.r.ok || x.js.status !== 'ok') {
        loginError(x.js.message || ('The server answered ' + x.r.status + '.'));
        return;
      }
      session = { ws_token: x.js.ws_token, user_id: x.js.user_id };
      store.setItem('ttb.session', JSON.stringify(session));
      $('key').value = '';
      events = [];
      renderLog();
      location.hash = '#home';
      route();
      connect();
    }).catch(function () {
      $('login-button').disabled = false;
      loginError('Cannot reach the server. Check your connection and try again.');
    });
  });

  function endSession(message) {
    if (channel) { channel.close(); channel = null; }
    session = undefined;
    store.removeItem('ttb.session');
    location.hash = '';
    show('login');
    loginError(message || '');
  }

  $('logout').addEventListener('click', function () {
    var tok = session && session.ws_token;
    endSession('');
    if (tok) fetch('/auth/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + tok } }).catch(function () {});
  });

  /* --------------------------------------------------------------- home */

  function setConn(state, text) {
    $('conn').dataset.state = state;
    $('conn-text').textContent = text;
  }

  function addLog(kind, html) {
    events.unshift({ kind: kind, html: html });
    events.length = Math.min(events.length, LOG_LINES);
    renderLog();
  }

  function renderLog() {
    var ol = $('log');
    ol.textContent = '';
    events.forEach(function (e) {
      var li = document.createElement('li');
      li.className = e.kind;
      e.html.forEach(function (part) {
        var s = document.createElement('span');
        if (part[0]) s.className = part[0];
        s.textContent = part[1];
        li.appendChild(s);
      });
      ol.appendChild(li);
    });
  }

  function onEvent(m) {
    if (m.type === 'chat') {
      var profane = settings.profanity && filter.isProfane(m.message);
      var parts = [['who', m.user + ': '], ['', m.message]];
      if (profane) parts.push(['muted', ' (not read: profanity)']);
      addLog('chat', parts);
      if (settings.tts && !profane) player.say(m.tts_url);
    } else if (m.type === 'gift') {
      addLog('gift', [['who', (m.user || 'Someone') + ' '], ['', 'sent ' + m.gift_name + ' ×' + m.count]]);
      if (settings.gifts) player.gift(m.sound_url);
    } else if (m.type === 'hello') {
      if (m.resume_gap && m.missed) addLog('info', [['', m.missed + ' events were missed while offline']]);
    } else if (m.type === 'status') {
      tiktok = m.tiktok;
      if (m.tiktok === 'live' && settings.autostart && !settings.tts) {
        settings.tts = true;
        save();
        applySettings();
        addLog('info', [['', 'The stream started: speech is on']]);
      }
      if (channelState === 'connected') setConn('connected', connText());
    } else if (m.type === 'error') {
      addLog('info', [['', m.message || m.error]]);
    }
  }

  var tiktok = '';
  var channelState = 'connecting';
  function connText() {
    return 'connected to server' + (tiktok && tiktok !== 'off' ? ' · TikTok LIVE: ' + tiktok : '');
  }

  function connect() {
    if (channel) channel.close();
    channel = new TTB.Channel({
      path: '/ws/' + encodeURIComponent(session.ws_token),
      onevent: onEvent,
      onstate: function (state, detail) {
        var was = channelState;
        channelState = state;
        if (state === 'connected') setConn('connected', connText());
        else if (state === 'connecting') setConn('connecting', 'connecting…');
        else {
          setConn('offline', 'offline, reconnecting…');
          if (was === 'connected' && settings.notify && document.hidden && window.Notification &&
              Notification.permission === 'granted')
            new Notification('TTBoost', { body: 'The connection to the server was lost; reconnecting.' });
        }
      },
      onfatal: function (code, reason) {
        endSession(code === 4003 ? 'Your license was revoked or has expired.' : 'Your session ended. Sign in again.');
      }
    });
    channel.connect();
    window.ttbApp.channel = channel;
    audioHint();
  }

  function audioHint() {
    var st = player.state();
    $('audio-hint').hidden = st === 'running';
  }
  $('audio-resume').addEventListener('click', function () { player.start().then(audioHint, audioHint); });
  document.addEventListener('click', function () {
    if (session && player.state() !== 'running') player.start().then(audioHint, audioHint);
  });

  function bindSwitch(id, key) {
    $(id).addEventListener('change', function () {
      settings[key] = $(id).checked;
      save();
      applySettings();
    });
  }
  bindSwitch('sw-tts', 'tts');
  bindSwitch('sw-gifts', 'gifts');
  bindSwitch('sw-bg', 'background');

  document.addEventListener('visibilitychange', function () {
    if (!player.ctx) return;
    if (document.hidden && !settings.background) player.ctx.suspend();
    else if (!document.hidden && player.ctx.state === 'suspended') player.ctx.resume().then(audioHint, audioHint);
  });

  /* ----------------------------------------------------------- settings */

  function applySettings() {
    $('sw-tts').checked = settings.tts;
    $('sw-gifts').checked = settings.gifts;
    $('sw-bg').checked = settings.background;
    $('tts-state').textContent = settings.tts ? 'ON' : 'OFF';
    $('gifts-state').textContent = settings.gifts ? 'ON' : 'OFF';
    $('bg-state').textContent = settings.background ? 'plays while this tab is hidden' : 'pauses while this tab is hidden';
    $('tts-vol').value = settings.ttsVolume;
    $('gift-vol').value = settings.giftVolume;
    $('tts-vol-out').textContent = settings.ttsVolume;
    $('gift-vol-out').textContent = settings.giftVolume;
    $('opt-profanity').checked = settings.profanity;
    $('opt-notify').checked = settings.notify;
    $('opt-autostart').checked = settings.autostart;
    player.setEnabled('tts', settings.tts);
    player.setEnabled('gift', settings.gifts);
    player.setVolume('tts', settings.ttsVolume / 100);
    player.setVolume('gift', settings.giftVolume / 100);
  }

  function bindRange(id, key) {
    $(id).addEventListener('input', function () {
      settings[key] = Number($(id).value);
      save();
      applySettings();
    });
  }
  bindRange('tts-vol', 'ttsVolume');
  bindRange('gift-vol', 'giftVolume');

  function bindCheck(id, key, then) {
    $(id).addEventListener('change', function () {
      settings[key] = $(id).checked;
      save();
      applySettings();
      if (then) then();
    });
  }
  bindCheck('opt-profanity', 'profanity');
  bindCheck('opt-autostart', 'autostart');
  bindCheck('opt-notify', 'notify', function () {
    if (settings.notify && window.Notification && Notification.permission === 'default')
      Notification.requestPermission();
  });

  $('to-settings').addEventListener('click', function () { location.hash = '#settings'; });
  $('back').addEventListener('click', function () { location.hash = '#home'; });
  window.addEventListener('hashchange', route);

  /* ------------------------------------------------------- OBS overlays */

  function api(method, path, body) {
    var opts = { method: method, headers: { Authorization: 'Bearer ' + session.ws_token } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (js) {
        if (!r.ok) throw new Error(js.message || ('HTTP ' + r.status));
        return js;
      });
    });
  }

  function listOverlays() {
    if (!session) return;
    api('GET', '/me/overlay-tokens').then(function (js) {
      var ul = $('overlay-list');
      ul.textContent = '';
      (js.tokens || []).forEach(function (t) {
        var li = document.createElement('li');
        var s = document.createElement('span');
        s.textContent = t.hint + '… ' + (t.note || '') + ' · ' + new Date(t.created * 1000).toLocaleDateString();
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'link';
        b.textContent = 'Revoke';
        b.addEventListener('click', function () {
          api('DELETE', '/me/overlay-tokens', { id: t.id }).then(function () {
            $('overlay-url').hidden = true;
            listOverlays();
          }).catch(function (e) { alert(e.message); });
        });
        li.appendChild(s);
        li.appendChild(b);
        ul.appendChild(li);
      });
    }).catch(function () { /* shown as an empty list */ });
  }

  $('overlay-new').addEventListener('click', function () {
    api('POST', '/me/overlay-tokens', { note: 'OBS' }).then(function (js) {
      $('overlay-url').textContent = js.url;
      $('overlay-url').hidden = false;
      listOverlays();
    }).catch(function (e) {
      $('overlay-url').textContent = e.message;
      $('overlay-url').hidden = false;
    });
  });

  /* -------------------------------------------------------------- start */

  window.ttbApp = { player: player, channel: null, settings: settings, filter: filter };
  applySettings();
  filter.load('/app/profanity/');
  route();
  if (session) {
    player.start().catch(function () {}).then(audioHint);
    connect();
  }
})();
