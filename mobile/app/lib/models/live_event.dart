import 'dart:convert';
import 'dart:ffi';

import '../ffi/ttboost_bindings.dart';

part 'chat_event.dart';
part 'gift_event.dart';
part 'status_event.dart';
part 'tiktok_status.dart';

/// One entry of the event stream the core hands out (`ttb_event`), as a
/// Dart value. Exhaustive `switch` over the subclasses keeps the UI honest.
sealed class LiveEvent {
  const LiveEvent({required this.seq, required this.time});

  /// The server's per-channel sequence number (0 for local events).
  final int seq;
  final DateTime time;

  /// Copies a native `ttb_event` into a Dart value (the struct is reused).
  static LiveEvent fromNative(TtbEvent e) {
    final time = DateTime.fromMillisecondsSinceEpoch(e.time_ms);
    final user = _cString(e.user, TTB_EVENT_USER_SIZE);
    final text = _cString(e.text, TTB_EVENT_TEXT_SIZE);
    return switch (e.kind) {
      TTB_EVENT_CHAT => ChatEvent(seq: e.seq, time: time, user: user, message: text, filtered: e.filtered),
      TTB_EVENT_GIFT => GiftEvent(seq: e.seq, time: time, user: user, giftName: text, count: e.count),
      TTB_EVENT_STATE => StateEvent(seq: e.seq, time: time, state: e.count, reason: text),
      TTB_EVENT_TIKTOK =>
        TiktokEvent(seq: e.seq, time: time, state: TiktokState.fromNative(e.count), username: user, message: text),
      TTB_EVENT_MISSED => MissedEvent(seq: e.seq, time: time, count: e.count),
      TTB_EVENT_CHANNEL => ChannelEvent(seq: e.seq, time: time, code: -e.count, message: text),
      _ => ErrorEvent(seq: e.seq, time: time, code: -e.count, message: text),
    };
  }
}

/// Decodes a NUL-terminated UTF-8 `char[size]` array.
String _cString(Array<Uint8> a, int size) {
  final bytes = <int>[];
  for (var i = 0; i < size; i++) {
    final b = a[i];
    if (b == 0) break;
    bytes.add(b);
  }
  return utf8.decode(bytes, allowMalformed: true);
}
