/*
 * TTBoost web app (/app/): the spec's three screens. Login with a license
 * key (POST /auth/login), home (speech, gifts and background switches, the
 * connection indicator, the last 5 events), settings (the two volumes, the
 * profanity filter, notifications, auto-start, the channel settings kept by
 * the server — GET/PUT /me/settings, the streamer's sounds /me/sounds —
 * and the OBS overlay's links). The session and the player's own settings
 * live in this browser (localStorage).
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
    if (name === 'settings') { listOverlays(); loadChannel(); }
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
      else if (!m.tts_url) parts.push(['muted', ' (not read)']); /* the channel settings said so */
      addLog('chat', parts);
      if (settings.tts && !profane) player.say(m.tts_url);
    } else if (m.type === 'gift') {
      var gparts = [['who', (m.user || 'Someone') + ' '], ['', 'sent ' + m.gift_name + ' ×' + m.count]];
      if (!m.sound_url) gparts.push(['muted', ' (no sound)']);
      addLog('gift', gparts);
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

  /* --------------------------------------------------- channel settings */

  /* The server's document (GET /me/settings), {} = its defaults. The form
   * shows it; Save sends the whole document back (PUT replaces it), with
   * the fields this page does not show kept as they were. */
  var chDoc = {};
  var chDirty = { rate: false, pitch: false };

  function num(id) {
    var v = $(id).value.trim();
    if (v === '') return 0;
    var n = Number(v);
    return Number.isFinite(n) ? n : NaN;
  }
  function lines(text) {
    return text.split(/[\n,]/).map(function (x) { return x.trim(); }).filter(function (x) { return x; });
  }
  function pairs(text, a, b) {
    return text.split('\n').map(function (l) { return l.trim(); }).filter(function (l) { return l; }).map(function (l) {
      var i = l.indexOf('=');
      var o = {};
      o[a] = (i < 0 ? l : l.slice(0, i)).trim();
      o[b] = i < 0 ? '' : l.slice(i + 1).trim();
      return o;
    });
  }

  function chSummaries(d) {
    var r = d.reading || {}, p = d.pacing || {}, v = d.voice || {}, g = d.gifts || {};
    var read = [];
    read.push(r.command_prefix ? 'only chats starting with ' + r.command_prefix : 'all chats');
    if (r.username === 'USERNAME_MODE_NEVER') read.push('without the name');
    var strip = [r.strip_links && 'links', r.strip_emoji && 'emoji', r.strip_mentions && '@mentions'].filter(Boolean);
    if (strip.length) read.push('no ' + strip.join(', '));
    if (r.max_chars) read.push('at most ' + r.max_chars + ' characters');
    $('sum-reading').textContent = read.join(' · ');
    $('sum-pacing').textContent = (p.cooldown_seconds ? p.cooldown_seconds + ' s per viewer' : 'no cooldown') +
      (p.max_backlog_seconds ? ' · backlog ' + p.max_backlog_seconds + ' s' : '');
    $('sum-voice').textContent = (v.rate ? v.rate + ' words/min' : 'default speed') +
      (v.pitch ? ' · pitch ' + v.pitch : '') + ((v.voices || []).length ? ' · ' + v.voices.length + ' voice(s) chosen' : '');
    var n = (d.banned_words || []).length;
    $('sum-words').textContent = n ? n + ' word' + (n > 1 ? 's' : '') : 'none';
    $('sum-gifts').textContent = (g.min_diamonds ? 'from ' + g.min_diamonds + ' diamonds' : 'every gift sounds') +
      ((g.sounds || []).length ? ' · ' + g.sounds.length + ' gift sound(s)' : '');
  }

  function chFill(d) {
    chDoc = d || {};
    var r = chDoc.reading || {}, p = chDoc.pacing || {}, v = chDoc.voice || {}, g = chDoc.gifts || {};
    $('ch-username').value = r.username || 'USERNAME_MODE_DEFAULT';
    $('ch-template').value = r.text_template || '';
    $('ch-which').value = r.command_prefix ? 'command' : 'all';
    $('ch-prefix').value = r.command_prefix || '';
    $('ch-prefix-row').hidden = !r.command_prefix;
    $('ch-maxchars').value = r.max_chars ? r.max_chars : '';
    $('ch-strip-links').checked = !!r.strip_links;
    $('ch-strip-emoji').checked = !!r.strip_emoji;
    $('ch-strip-mentions').checked = !!r.strip_mentions;
    $('ch-cooldown').value = p.cooldown_seconds ? p.cooldown_seconds : '';
    $('ch-backlog').value = p.max_backlog_seconds ? p.max_backlog_seconds : '';
    chDirty = { rate: false, pitch: false };
    $('ch-rate').value = v.rate || 175;
    $('ch-pitch').value = v.pitch || 50;
    $('ch-rate-out').textContent = v.rate ? String(v.rate) : '175 (default)';
    $('ch-pitch-out').textContent = v.pitch ? String(v.pitch) : '50 (default)';
    $('ch-voices').value = (v.voices || []).map(function (x) { return x.language + ' = ' + x.voice; }).join('\n');
    $('ch-words').value = (chDoc.banned_words || []).join('\n');
    $('ch-mindiamonds').value = g.min_diamonds ? g.min_diamonds : '';
    $('ch-giftsounds').value = (g.sounds || []).map(function (x) { return x.gift_name + ' = ' + x.sound; }).join('\n');
    chSummaries(chDoc);
  }

  /* The form as a ChannelSettings document; fields the form leaves at
   * their defaults are left out (the schema's defaults). */
  function chCollect() {
    var d = JSON.parse(JSON.stringify(chDoc));
    delete d.updated_ms;
    var r = d.reading = d.reading || {};
    r.username = $('ch-username').value;
    r.text_template = $('ch-template').value.trim();
    r.command_prefix = $('ch-which').value === 'command' ? $('ch-prefix').value.trim() : '';
    r.max_chars = num('ch-maxchars');
    r.strip_links = $('ch-strip-links').checked;
    r.strip_emoji = $('ch-strip-emoji').checked;
    r.strip_mentions = $('ch-strip-mentions').checked;
    var p = d.pacing = d.pacing || {};
    p.cooldown_seconds = num('ch-cooldown');
    p.max_backlog_seconds = num('ch-backlog');
    var v = d.voice = d.voice || {};
    if (chDirty.rate) v.rate = Number($('ch-rate').value);
    if (chDirty.pitch) v.pitch = Number($('ch-pitch').value);
    v.voices = pairs($('ch-voices').value, 'language', 'voice');
    d.banned_words = lines($('ch-words').value);
    var g = d.gifts = d.gifts || {};
    g.min_diamonds = num('ch-mindiamonds');
    g.sounds = pairs($('ch-giftsounds').value, 'gift_name', 'sound');
    /* drop defaults: a short document the server reads the same */
    [r, p, v, g].forEach(function (o) {
      Object.keys(o).forEach(function (k) {
        var x = o[k];
        if (x === '' || x === 0 || x === false || x === 'USERNAME_MODE_DEFAULT' || (Array.isArray(x) && !x.length)) delete o[k];
      });
    });
    ['reading', 'pacing', 'voice', 'gifts'].forEach(function (k) { if (!Object.keys(d[k]).length) delete d[k]; });
    if (!d.banned_words || !d.banned_words.length) delete d.banned_words;
    return d;
  }

  function chMessage(err, ok) {
    $('channel-error').textContent = err || '';
    $('channel-error').hidden = !err;
    $('channel-ok').textContent = ok || '';
    $('channel-ok').hidden = !ok;
  }

  /* A request whose error keeps the server's words ({message}). */
  function apiErr(method, path, body, raw) {
    var opts = { method: method, headers: { Authorization: 'Bearer ' + session.ws_token } };
    if (raw) {
      opts.headers['Content-Type'] = raw.type;
      opts.body = raw.data;
    } else if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var js = null;
        try { js = JSON.parse(t); } catch (e) { js = null; }
        if (!r.ok) {
          if (r.status === 401) endSession('Your session ended. Sign in again.');
          if (r.status === 404 && method !== 'DELETE') throw new Error('This server does not know channel settings yet: it needs an update.');
          throw new Error((js && js.message) || ('The server answered ' + r.status + '.'));
        }
        return js || {};
      });
    });
  }

  function loadChannel() {
    if (!session) return;
    apiErr('GET', '/me/settings').then(function (d) { chFill(d); chMessage(''); }, function (e) { chMessage(e.message); });
    listSounds();
  }

  function saveChannel() {
    var d = chCollect();
    var bad = [];
    [['ch-maxchars', 'Longest message'], ['ch-cooldown', 'Cooldown'], ['ch-backlog', 'Backlog'], ['ch-mindiamonds', 'Smallest gift']].forEach(function (x) {
      var n = num(x[0]);
      if (!(n >= 0 && Math.floor(n) === n)) bad.push(x[1] + ' must be a whole number, 0 or more.');
    });
    if ($('ch-which').value === 'command' && !$('ch-prefix').value.trim()) bad.push('Type the command, e.g. !tts.');
    if (bad.length) { chMessage(bad.join(' ')); return; }
    $('channel-save').disabled = true;
    chMessage('');
    apiErr('PUT', '/me/settings', d).then(function (stored) {
      chFill(stored);
      chMessage('', 'Saved. It applies to the next chat.');
    }, function (e) {
      chMessage(e.message);
    }).then(function () { $('channel-save').disabled = false; });
  }

  $('channel-save').addEventListener('click', saveChannel);
  $('channel-reset').addEventListener('click', function () {
    chFill({});
    chMessage('', 'The defaults are shown: Save to use them.');
  });
  $('ch-which').addEventListener('change', function () {
    $('ch-prefix-row').hidden = $('ch-which').value !== 'command';
    if (!$('ch-prefix-row').hidden && !$('ch-prefix').value) $('ch-prefix').value = '!tts';
  });
  $('ch-rate').addEventListener('input', function () { chDirty.rate = true; $('ch-rate-out').textContent = $('ch-rate').value; });
  $('ch-pitch').addEventListener('input', function () { chDirty.pitch = true; $('ch-pitch-out').textContent = $('ch-pitch').value; });

  /* the streamer's own sounds */
  function soundError(text) {
    $('sound-error').textContent = text || '';
    $('sound-error').hidden = !text;
  }

  function listSounds() {
    apiErr('GET', '/me/sounds').then(function (js) {
      var ul = $('sound-list');
      ul.textContent = '';
      (js.sounds || []).forEach(function (snd) {
        var li = document.createElement('li');
        var s = document.createElement('span');
        s.textContent = snd.name + ' · ' + snd.id + ' · ' + (snd.duration_ms / 1000).toFixed(1) + ' s';
        var play = document.createElement('button');
        play.type = 'button';
        play.className = 'link';
        play.textContent = 'Play';
        play.addEventListener('click', function () { player.gift(snd.url); });
        var use = document.createElement('button');
        use.type = 'button';
        use.className = 'link';
        use.textContent = 'Use for a gift';
        use.addEventListener('click', function () {
          var gift = window.prompt('For which gift? (its TikTok name, e.g. Rose)');
          if (!gift) return;
          var t = $('ch-giftsounds').value.trim();
          $('ch-giftsounds').value = (t ? t + '\n' : '') + gift.trim() + ' = ' + snd.id;
          $('grp-gifts').open = true;
          chMessage('', 'Save to use it.');
        });
        var del = document.createElement('button');
        del.type = 'button';
        del.className = 'link';
        del.textContent = 'Delete';
        del.addEventListener('click', function () {
          apiErr('DELETE', '/me/sounds', { id: snd.id }).then(listSounds, function (e) { soundError(e.message); });
        });
        li.appendChild(s);
        [play, use, del].forEach(function (b) { li.appendChild(b); });
        ul.appendChild(li);
      });
    }, function () { /* no sounds on this server: an empty list */ });
  }

  function soundType(file) {
    var n = file.name.toLowerCase();
    if (/\.(ogg|opus)$/.test(n)) return 'audio/ogg';
    if (/\.wav$/.test(n)) return 'audio/wav';
    if (/\.mp3$/.test(n)) return 'audio/mpeg';
    return file.type || 'application/octet-stream';
  }

  $('sound-upload').addEventListener('click', function () {
    var f = $('sound-file').files[0];
    if (!f) { soundError('Choose a sound file first.'); return; }
    if (f.size > 2 * 1024 * 1024) { soundError('This file is larger than 2 MiB.'); return; }
    var name = $('sound-name').value.trim() || f.name.replace(/\.[^.]*$/, '');
    soundError('');
    $('sound-upload').disabled = true;
    apiErr('POST', '/me/sounds?name=' + encodeURIComponent(name), undefined, { type: soundType(f), data: f }).then(function () {
      $('sound-file').value = '';
      $('sound-name').value = '';
      listSounds();
    }, function (e) { soundError(e.message); }).then(function () { $('sound-upload').disabled = false; });
  });

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

  window.ttbApp = { player: player, channel: null, settings: settings, filter: filter,
                    channelSettings: function () { return chCollect(); } };
  applySettings();
  filter.load('/app/profanity/');
  route();
  if (session) {
    player.start().catch(function () {}).then(audioHint);
    connect();
  }
})();
