part of 'live_event.dart';

/// The connection state changed (a TTB_STATE_* value).
final class StateEvent extends LiveEvent {
  const StateEvent({required super.seq, required super.time, required this.state, this.reason = ''});

  final int state;
  final String reason;
}

/// The TikTok side changed (a `status` message from the server, or the
/// answer of a /me/tiktok call). The room id comes from the core's kept
/// status (`ttb_client_tiktok_status`).
final class TiktokEvent extends LiveEvent {
  const TiktokEvent({
    required super.seq,
    required super.time,
    required this.state,
    this.username = '',
    this.message = '',
  });

  final TiktokState state;
  final String username;
  final String message;
}

/// A reconnect could not resume: [count] events were lost for good (0: not
/// known how many). Shown in the log.
final class MissedEvent extends LiveEvent {
  const MissedEvent({required super.seq, required super.time, required this.count});

  final int count;
}

/// The core reports a failure (a TTB_ERR_* code, negative).
final class ErrorEvent extends LiveEvent {
  const ErrorEvent({required super.seq, required super.time, required this.code, this.message = ''});

  final int code;
  final String message;
}

/// The channel settings changed or a change failed (TTB_EVENT_CHANNEL):
/// [code] is 0 when a new copy came from the server (read it with
/// `CoreClient.channelSettings`), else the TTB_ERR_* of the failed fetch or
/// save, with [message] saying why (the server's words for a refused value).
/// Not shown in the log.
final class ChannelEvent extends LiveEvent {
  const ChannelEvent({required super.seq, required super.time, required this.code, this.message = ''});

  final int code;
  final String message;
}
