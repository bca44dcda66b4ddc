import 'dart:async';
import 'dart:io' show Platform;

import 'package:flutter/foundation.dart';
import 'package:flutter/widgets.dart';

import '../ffi/ttboost_bindings.dart';
import '../models/channel_settings.dart';
import '../models/live_event.dart';
import '../services/api_service.dart';
import '../services/audio_service.dart';
import '../services/background_service.dart';
import '../services/core_client.dart';
import '../services/ws_service.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';
import 'auth_provider.dart';

/// The live session: connection, the TikTok side, audio output, background
/// service, settings, the 5-line log and the stats. Follows [AuthProvider]:
/// starts when signed in, stops on sign-out.
class AudioProvider extends ChangeNotifier with WidgetsBindingObserver {
  AudioProvider(this._background) {
    WidgetsBinding.instance.addObserver(this);
  }

  final BackgroundService _background;
  AuthProvider? _auth;
  CoreClient? _core;
  WsService? _ws;
  AudioService? _audio;
  ApiService? _api;
  StreamSubscription<LiveEvent>? _sub;
  Timer? _statsTimer;
  bool _running = false;
  bool _inForeground = true;

  AudioSettings _settings = const AudioSettings();
  AudioStats? _stats;
  ConnState _conn = ConnState.disconnected;
  List<LiveEvent> _log = const [];
  bool _backgroundOn = false;
  Msg? _notice;
  TiktokStatus _tiktok = TiktokStatus.none;
  bool _tiktokSaving = false;
  Object? _tiktokError;
  ChannelSettings _channel = ChannelSettings.defaults;
  int _channelSource = TTB_CHANNEL_DEFAULTS;
  bool _channelSaving = false;
  Object? _channelError;
  List<UserSound> _sounds = const [];

  AudioSettings get settings => _settings;
  AudioStats? get stats => _stats;
  ConnState get connection => _conn;
  List<LiveEvent> get log => _log;
  bool get backgroundOn => _backgroundOn;

  /// The server's connection to the streamer's TikTok LIVE, as last heard.
  TiktokStatus get tiktok => _tiktok;

  /// A [saveTiktok] call is under way.
  bool get tiktokSaving => _tiktokSaving;

  /// Why the last [saveTiktok] failed: the server's own words (a [String],
  /// for a refused handle) or a [Msg]; null when it did not fail.
  Object? get tiktokError => _tiktokError;

  /// The channel settings (what is read and how, gifts), as the core holds
  /// them: from the server after each connect, else the copy kept offline.
  ChannelSettings get channel => _channel;

  /// Where [channel] comes from: TTB_CHANNEL_DEFAULTS, _SAVED (offline copy)
  /// or _SERVER.
  int get channelSource => _channelSource;

  /// A [saveChannel] call is under way.
  bool get channelSaving => _channelSaving;

  /// Why the last [saveChannel] failed: the server's own words (a [String])
  /// or a [Msg]; null when it did not fail.
  Object? get channelError => _channelError;

  /// The streamer's own sounds (for the gift overrides), as last listed.
  List<UserSound> get sounds => _sounds;

  /// Whether the background switch can be changed (Android); on iOS the
  /// background audio mode is always on while connected.
  bool get backgroundSwitchable => Platform.isAndroid;

  /// A passing message for a snackbar (then cleared by [takeNotice]).
  Msg? takeNotice() {
    final n = _notice;
    _notice = null;
    return n;
  }

  /// Wired by ChangeNotifierProxyProvider whenever [AuthProvider] notifies.
  void attach(AuthProvider auth) {
    _auth = auth;
    final core = auth.core;
    if (core != null && !identical(core, _core)) {
      _core = core;
      _ws = WsService(core);
      _audio = AudioService(core);
      _api = ApiService(core);
      _settings = _audio!.settings;
      _tiktok = core.tiktokStatus();
      _takeChannel(core);
    }
    if (auth.isSignedIn && !_running) {
      unawaited(_start());
    } else if (!auth.isSignedIn && _running) {
      unawaited(_stop());
    }
  }

  Future<void> _start() async {
    final ws = _ws, audio = _audio;
    if (ws == null || audio == null) return;
    _running = true;
    _sub = ws.events.listen(_onEvent);
    try {
      ws.start(); // connects in the core's network thread
      audio.startOutput();
      _settings = audio.settings; // auto_start_tts may have switched TTS on
    } on CoreException catch (e) {
      _notice = errorMessage(e.code);
    }
    await _background.configure();
    if (Platform.isAndroid && !await _background.requestNotificationPermission()) {
      _notice = Msg.notificationsDenied;
    }
    await _background.start();
    _backgroundOn = await _background.isRunning();
    _log = ws.recent(kLogLines);
    _tiktok = ws.tiktok();
    unawaited(_fetchTiktok()); // the handle for Settings, before the socket says anything
    _refreshStats();
    _statsTimer = Timer.periodic(kStatsInterval, (_) => _refreshStats());
    notifyListeners();
  }

  Future<void> _stop() async {
    _running = false;
    _statsTimer?.cancel();
    _statsTimer = null;
    await _sub?.cancel();
    _sub = null;
    try {
      _ws?.stop();
    } on CoreException catch (e) {
      debugPrint('stop: $e');
    }
    _audio?.stopOutput();
    await _background.stop();
    _backgroundOn = false;
    _conn = ConnState.disconnected;
    _log = const [];
    notifyListeners();
  }

  /// Sign-out: stop everything, then forget the token.
  Future<void> logout() async {
    await _stop();
    _auth?.logout();
    _tiktok = TiktokStatus.none; // the core forgot it too
    _tiktokError = null;
    _channel = ChannelSettings.defaults; // so did it the channel settings
    _channelSource = TTB_CHANNEL_DEFAULTS;
    _channelError = null;
    _sounds = const [];
  }

  /// Takes the core's copy of the channel settings and where it comes from
  /// (a pattern assignment cannot set fields).
  void _takeChannel(CoreClient core) {
    final (settings, source) = core.channelSettings();
    _channel = settings;
    _channelSource = source;
  }

  /// Settings: fetches the channel settings again (GET /me/settings) and the
  /// streamer's sounds. Failures leave the copy shown as it is.
  Future<void> refreshChannel() async {
    final core = _core;
    if (core == null) return;
    try {
      await core.refreshChannelSettings();
    } on CoreException catch (e) {
      debugPrint('GET /me/settings: $e'); // offline: the kept copy stays
    }
    _takeChannel(core);
    try {
      _sounds = await core.listSounds();
    } on CoreException catch (e) {
      debugPrint('GET /me/sounds: $e');
    }
    notifyListeners();
  }

  /// Settings: replaces the channel settings on the server. Returns true
  /// when the server took them; otherwise [channelError] says why.
  Future<bool> saveChannel(ChannelSettings next) async {
    final core = _core;
    if (core == null || _channelSaving) return false;
    _channelSaving = true;
    _channelError = null;
    notifyListeners();
    var ok = false;
    try {
      _channel = await core.saveChannelSettings(next);
      _channelSource = TTB_CHANNEL_SERVER;
      ok = true;
    } on CoreException catch (e) {
      _channelError = e.code == TTB_ERR_INVALID && e.message.isNotEmpty ? e.message : errorMessage(e.code);
    }
    _channelSaving = false;
    notifyListeners();
    return ok;
  }

  /// Settings: deletes one of the streamer's sounds.
  Future<void> deleteSound(String id) async {
    final core = _core;
    if (core == null) return;
    try {
      await core.deleteSound(id);
      _sounds = await core.listSounds();
    } on CoreException catch (e) {
      _channelError = e.message.isNotEmpty ? e.message : errorMessage(e.code);
    }
    notifyListeners();
  }

  Future<void> _fetchTiktok() async {
    final api = _api;
    if (api == null) return;
    try {
      _tiktok = await api.fetchTiktok();
      notifyListeners();
    } on CoreException catch (e) {
      debugPrint('GET /me/tiktok: $e'); // an old server, no network: the socket will tell
    }
  }

  /// Settings: sets the TikTok @username on the server ("" clears it).
  /// Returns true when the server took it; otherwise [tiktokError] says why.
  Future<bool> saveTiktok(String username) async {
    final api = _api;
    if (api == null || _tiktokSaving) return false;
    _tiktokSaving = true;
    _tiktokError = null;
    notifyListeners();
    var ok = false;
    try {
      _tiktok = await api.setTiktok(username);
      ok = true;
    } on CoreException catch (e) {
      _tiktokError = e.code == TTB_ERR_INVALID && e.message.isNotEmpty ? e.message : tiktokErrorMessage(e.code);
    }
    _tiktokSaving = false;
    notifyListeners();
    return ok;
  }

  void _onEvent(LiveEvent e) {
    switch (e) {
      case ChatEvent() || GiftEvent() || MissedEvent():
        _log = [e, ..._log].take(kLogLines).toList(growable: false);
      case StateEvent(:final state):
        final next = ConnState.fromNative(state);
        if (_conn == ConnState.connected && next == ConnState.reconnecting) _alert(Msg.connectionLost);
        _conn = next;
      case ChannelEvent(:final code):
        // A new copy from the server (after a connect, or a save): show it.
        // A failed background fetch changes nothing shown.
        if (code == TTB_OK && _core != null) _takeChannel(_core!);
      case TiktokEvent():
        _tiktok = _ws?.tiktok() ?? _tiktok; // with the room id
      case ErrorEvent(:final code) when isLicenseError(code):
        _log = [e, ..._log].take(kLogLines).toList(growable: false);
        _alert(errorMessage(code));
        unawaited(_stop().then((_) => _auth?.sessionEnded(code)));
      case ErrorEvent():
        _log = [e, ..._log].take(kLogLines).toList(growable: false);
    }
    notifyListeners();
  }

  void _alert(Msg msg) {
    if (!_settings.notifications || _inForeground) {
      _notice = msg;
      return;
    }
    final lang = PlatformDispatcher.instance.locale.languageCode;
    unawaited(_background.alert(trFor(lang, Msg.appTitle), trFor(lang, msg)));
  }

  void _refreshStats() {
    final audio = _audio;
    if (audio == null) return;
    _stats = audio.stats;
    notifyListeners();
  }

  void _apply(AudioSettings next) {
    final audio = _audio;
    if (audio == null) return;
    try {
      audio.settings = next;
      _settings = next;
    } on CoreException catch (e) {
      _notice = errorMessage(e.code);
      _settings = audio.settings;
    }
    notifyListeners();
  }

  void setTts(bool on) => _apply(_settings.copyWith(ttsEnabled: on));
  void setGifts(bool on) => _apply(_settings.copyWith(giftsEnabled: on));
  void setTtsVolume(double v) => _apply(_settings.copyWith(ttsVolume: v));
  void setGiftsVolume(double v) => _apply(_settings.copyWith(giftsVolume: v));
  void setProfanityFilter(bool on) => _apply(_settings.copyWith(profanityFilter: on));
  void setNotifications(bool on) => _apply(_settings.copyWith(notifications: on));
  void setAutoStartTts(bool on) => _apply(_settings.copyWith(autoStartTts: on));

  /// The third switch on Home (Android): run or stop the foreground service.
  Future<void> setBackground(bool on) async {
    if (!backgroundSwitchable) return;
    if (on) {
      await _background.start();
    } else {
      await _background.stop();
    }
    _backgroundOn = on;
    notifyListeners();
  }

  @override
  void didChangeAppLifecycleState(AppLifecycleState state) {
    _inForeground = state == AppLifecycleState.resumed;
    if (!_inForeground || !_running) return;
    // Back from TikTok: the network may have changed while we were away.
    if (_conn != ConnState.connected) _ws?.reconnectNow();
    _audio?.resumeOutput();
  }

  @override
  void dispose() {
    WidgetsBinding.instance.removeObserver(this);
    _statsTimer?.cancel();
    _sub?.cancel();
    _ws?.dispose();
    super.dispose();
  }
}
