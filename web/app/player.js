/*
 * TTBoost in the browser: the socket client and the audio player shared by
 * the web app (/app/) and the OBS overlay (/overlay/). Plain JS, no build.
 *
 * TTB.Player plays speech and gift sounds with the Web Audio API: each URL
 * is fetched whole and decoded (decodeAudioData; Ogg Opus), speech one
 * utterance after another, gift sounds at once and over speech, each kind
 * through its own gain (its volume). TTB.Channel keeps a socket to the
 * server (/ws/{ws_token} or /overlay/ws/{overlay_token}), reconnects with
 * backoff and resumes with ?since=<last seq> so a drop loses nothing.
 */
(function (global) {
  'use strict';

  var MAX_QUEUE = 50;       /* speech waiting beyond this is dropped (oldest first) */
  var FETCH_TIMEOUT_MS = 30000;

  function Player() {
    this.ctx = null;
    this.gains = {};
    this.volume = { tts: 0.8, gift: 0.8 };
    this.enabled = { tts: true, gift: true };
    this.speech = [];       /* queued {url, seq} */
    this.speaking = false;
    this.current = null;    /* the speech source playing */
    this.stats = { fetched: 0, played: { tts: 0, gift: 0 }, skipped: 0, failed: 0, active: 0 };
    this.onplay = null;     /* function(kind, url) */
  }

  /* Makes (or resumes) the AudioContext; call from a user gesture where a
   * browser needs one. */
  Player.prototype.start = function () {
    if (!this.ctx) {
      var AC = global.AudioContext || global.webkitAudioContext;
      if (!AC) return Promise.reject(new Error('This browser has no Web Audio.'));
      this.ctx = new AC();
      for (var k in this.volume) {
        var g = this.ctx.createGain();
        g.gain.value = this.volume[k];
        g.connect(this.ctx.destination);
        this.gains[k] = g;
      }
    }
    if (this.ctx.state === 'suspended') return this.ctx.resume();
    return Promise.resolve();
  };

  Player.prototype.state = function () { return this.ctx ? this.ctx.state : 'none'; };

  Player.prototype.setVolume = function (kind, v) {
    v = Math.max(0, Math.min(1, v));
    this.volume[kind] = v;
    if (this.gains[kind]) this.gains[kind].gain.value = v;
  };

  /* Turning a kind off stops what of it plays and drops what waits. */
  Player.prototype.setEnabled = function (kind, on) {
    this.enabled[kind] = !!on;
    if (!on && kind === 'tts') {
      this.stats.skipped += this.speech.length;
      this.speech = [];
      if (this.current) { try { this.current.stop(); } catch (e) { /* already ended */ } }
    }
  };

  Player.prototype.fetchBuffer = function (url) {
    var self = this;
    var ctl = global.AbortController ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS) : null;
    self.stats.fetched++;
    /* the server may stream speech as it is made (chunked): the whole body
     * is awaited, then decoded */
    return fetch(url, { credentials: 'omit', signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status + ' for ' + url);
        return r.arrayBuffer();
      })
      .then(function (buf) {
        if (timer) clearTimeout(timer);
        return self.ctx.decodeAudioData(buf);
      });
  };

  Player.prototype.playBuffer = function (kind, buf, done) {
    var self = this;
    var src = self.ctx.createBufferSource();
    src.buffer = buf;
    src.connect(self.gains[kind]);
    self.stats.active++;
    src.onended = function () {
      self.stats.active--;
      if (done) done();
    };
    src.start();
    self.stats.played[kind]++;
    if (self.onplay) self.onplay(kind);
    return src;
  };

  /* A gift sound: at once, over whatever plays. */
  Player.prototype.gift = function (url) {
    var self = this;
    if (!url || !self.enabled.gift || !self.ctx) { self.stats.skipped++; return; }
    self.fetchBuffer(url).then(function (buf) {
      if (self.enabled.gift) self.playBuffer('gift', buf);
    }).catch(function (e) { self.stats.failed++; console.warn('ttboost: gift sound:', e.message); });
  };

  /* Speech: queued, one after another; fetched as soon as it is queued. */
  Player.prototype.say = function (url) {
    if (!url || !this.enabled.tts || !this.ctx) { this.stats.skipped++; return; }
    var item = { url: url, buf: this.fetchBuffer(url) };
    item.buf.catch(function () { /* reported when its turn comes */ });
    this.speech.push(item);
    while (this.speech.length > MAX_QUEUE) { this.speech.shift(); this.stats.skipped++; }
    this.next();
  };

  Player.prototype.next = function () {
    var self = this;
    if (self.speaking || self.speech.length === 0) return;
    var item = self.speech.shift();
    self.speaking = true;
    item.buf.then(function (buf) {
      if (!self.enabled.tts) throw new Error('speech turned off');
      self.current = self.playBuffer('tts', buf, function () {
        self.current = null;
        self.speaking = false;
        self.next();
      });
    }).catch(function (e) {
      self.stats.failed++;
      console.warn('ttboost: speech:', e.message);
      self.speaking = false;
      self.next();
    });
  };

  /* ------------------------------------------------------------ socket */

  /* opts: path ("/ws/TOKEN"), onevent(msg), onstate(state, detail),
   * onfatal(code, reason). state: "connecting", "connected", "offline". */
  function Channel(opts) {
    this.opts = opts;
    this.lastSeq = 0;
    this.ws = null;
    this.closed = false;
    this.backoff = 500;
    this.timer = null;
  }

  Channel.prototype.url = function () {
    var proto = global.location.protocol === 'https:' ? 'wss:' : 'ws:';
    var u = proto + '//' + global.location.host + this.opts.path;
    if (this.lastSeq > 0) u += '?since=' + this.lastSeq;
    return u;
  };

  Channel.prototype.connect = function () {
    var self = this;
    if (self.closed) return;
    self.opts.onstate('connecting');
    var ws;
    try {
      ws = new WebSocket(self.url());
    } catch (e) {
      self.retry();
      return;
    }
    self.ws = ws;
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === 'hello') {
        self.backoff = 500;
        self.opts.onstate('connected', m);
      }
      if ((m.type === 'chat' || m.type === 'gift') && m.seq) {
        if (m.seq <= self.lastSeq) return; /* already had it */
        self.lastSeq = m.seq;
      }
      self.opts.onevent(m);
    };
    ws.onclose = function (ev) {
      if (self.ws !== ws) return;
      self.ws = null;
      /* 4001 unauthorized / session ended, 4003 license revoked or expired:
       * reconnecting cannot help */
      if (ev.code === 4001 || ev.code === 4003) {
        self.closed = true;
        self.opts.onstate('offline', ev.reason);
        if (self.opts.onfatal) self.opts.onfatal(ev.code, ev.reason);
        return;
      }
      self.opts.onstate('offline', ev.reason || ('closed (' + ev.code + ')'));
      self.retry();
    };
  };

  Channel.prototype.retry = function () {
    var self = this;
    if (self.closed || self.timer) return;
    var wait = self.backoff * (0.75 + Math.random() * 0.5);
    self.backoff = Math.min(self.backoff * 2, 10000);
    self.timer = setTimeout(function () { self.timer = null; self.connect(); }, wait);
  };

  Channel.prototype.close = function () {
    this.closed = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.ws) { var ws = this.ws; this.ws = null; ws.close(1000); }
  };

  /* Drops the connection as a network would (the page then resumes). */
  Channel.prototype.drop = function () { if (this.ws) this.ws.close(4000, 'dropped'); };

  /* --------------------------------------------------------- profanity */

  /* The client core's lists (mobile/core/data/profanity): whole words, or
   * stems ending in '*'; words are runs of letters and digits, lower case,
   * 'ё' as 'е'. */
  function Filter() { this.words = {}; this.stems = []; }

  Filter.prototype.load = function (base) {
    var self = this;
    return Promise.all(['en', 'ru', 'kk'].map(function (l) {
      return fetch(base + l + '.txt').then(function (r) { return r.ok ? r.text() : ''; }).then(function (t) {
        t.split('\n').forEach(function (line) {
          line = line.replace(/#.*/, '').trim().toLowerCase().replace(/ё/g, 'е');
          if (!line) return;
          if (line.charAt(line.length - 1) === '*') self.stems.push(line.slice(0, -1));
          else self.words[line] = true;
        });
      });
    })).catch(function () { /* no filter rather than no app */ });
  };

  Filter.prototype.isProfane = function (text) {
    var self = this;
    function bad(w) {
      if (!w) return false;
      if (self.words[w]) return true;
      for (var i = 0; i < self.stems.length; i++) if (w.indexOf(self.stems[i]) === 0) return true;
      return false;
    }
    var chunks = String(text).toLowerCase().replace(/ё/g, 'е').split(/\s+/);
    for (var i = 0; i < chunks.length; i++) {
      var words = chunks[i].split(/[^\p{L}\p{N}]+/u);
      if (words.some(bad) || bad(words.join(''))) return true;
    }
    return false;
  };

  global.TTB = { Player: Player, Channel: Channel, Filter: Filter };
})(window);
