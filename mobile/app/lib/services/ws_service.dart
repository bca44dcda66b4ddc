import 'dart:async';
import 'dart:ffi';

import 'package:ffi/ffi.dart';

import '../ffi/native_library.dart';
import '../ffi/ttboost_bindings.dart';
import '../models/live_event.dart';
import '../utils/constants.dart';
import 'core_client.dart';

/// Connection state as Dart sees it (same order as `ttb_conn_state`).
enum ConnState {
  disconnected,
  connecting,
  connected,
  reconnecting;

  /// A TTB_STATE_* value; anything unknown counts as disconnected.
  static ConnState fromNative(int v) => switch (v) {
        TTB_STATE_CONNECTING => connecting,
        TTB_STATE_CONNECTED => connected,
        TTB_STATE_RECONNECTING => reconnecting,
        _ => disconnected,
      };
}

/// The WebSocket side: the core's network thread connects, reconnects with
/// backoff and resumes by `since`; this wrapper starts/stops it and drains
/// its event queue on a timer (the core never calls into Dart).
final class WsService {
  WsService(this._core);

  final CoreClient _core;
  final _events = StreamController<LiveEvent>.broadcast();
  Timer? _poll;
  Pointer<TtbEvent>? _buf;

  TtbBindings get _b => NativeTtboost.instance.core;

  /// Events in arrival order, while [start]ed.
  Stream<LiveEvent> get events => _events.stream;

  void start() {
    _core.check(_b.ttb_client_start(_core.handle));
    _buf ??= calloc<TtbEvent>();
    _poll ??= Timer.periodic(kPollInterval, (_) => _drain());
  }

  void stop() {
    _poll?.cancel();
    _poll = null;
    _core.check(_b.ttb_client_stop(_core.handle));
    _drain();
  }

  /// The network changed or the app came back: retry at once.
  void reconnectNow() {
    final rc = _b.ttb_client_reconnect_now(_core.handle);
    if (rc != TTB_OK && rc != TTB_ERR_STATE) _core.check(rc);
  }

  (ConnState, String) state() => using((arena) {
        const len = 256;
        final msg = arena<Uint8>(len).cast<Utf8>();
        final s = _b.ttb_client_state(_core.handle, msg, len);
        return (ConnState.fromNative(s), msg.toDartString());
      });

  /// The TikTok side as the server last said it (kept by the core).
  TiktokStatus tiktok() => _core.tiktokStatus();

  /// The newest [max] events of the core's log, newest first.
  List<LiveEvent> recent(int max) => using((arena) {
        final out = arena<TtbEvent>(max);
        final n = _b.ttb_client_recent_events(_core.handle, out, max);
        return [for (var i = 0; i < n; i++) LiveEvent.fromNative(out[i])];
      });

  void _drain() {
    final buf = _buf;
    if (buf == null) return;
    // Bounded per tick so a burst cannot freeze a frame.
    for (var i = 0; i < 64 && _b.ttb_client_poll_event(_core.handle, buf) == 1; i++) {
      _events.add(LiveEvent.fromNative(buf.ref));
    }
  }

  void dispose() {
    _poll?.cancel();
    _poll = null;
    final buf = _buf;
    if (buf != null) calloc.free(buf);
    _buf = null;
    _events.close();
  }
}
