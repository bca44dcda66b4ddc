part of 'live_event.dart';

/// The server's connection to the streamer's TikTok LIVE (`ttb_tiktok_state`).
enum TiktokState {
  /// Nothing heard yet (or a state newer than this app).
  unknown,

  /// No @username set, or the server's connector is off.
  off,

  /// The user is not live; the server looks again every so often.
  waiting,

  /// Live: the server is joining the room.
  connecting,

  /// Joined: chat and gifts flow.
  live,

  /// The stream just ended.
  ended,

  /// Something failed (see [TiktokStatus.message]).
  error;

  /// A TTB_TIKTOK_* value; anything else is [unknown].
  static TiktokState fromNative(int v) => switch (v) {
        TTB_TIKTOK_OFF => off,
        TTB_TIKTOK_WAITING => waiting,
        TTB_TIKTOK_CONNECTING => connecting,
        TTB_TIKTOK_LIVE => live,
        TTB_TIKTOK_ENDED => ended,
        TTB_TIKTOK_ERROR => error,
        _ => unknown,
      };
}

/// The TikTok side as the server last described it (`ttb_tiktok_status`).
final class TiktokStatus {
  const TiktokStatus({this.state = TiktokState.unknown, this.username = '', this.roomId = '', this.message = ''});

  /// Before anything was heard.
  static const TiktokStatus none = TiktokStatus();

  /// Copies a native `ttb_tiktok_status`.
  factory TiktokStatus.fromNative(TtbTiktokStatus s) => TiktokStatus(
        state: TiktokState.fromNative(s.state),
        username: _cString(s.username, TTB_TIKTOK_USERNAME_SIZE),
        roomId: _cString(s.room_id, TTB_TIKTOK_ROOM_ID_SIZE),
        message: _cString(s.message, TTB_TIKTOK_MESSAGE_SIZE),
      );

  final TiktokState state;

  /// The handle the server watches, without the @ ("" = none).
  final String username;

  /// TikTok's room id while live, else "".
  final String roomId;

  /// The server's words about the state (English), or "".
  final String message;
}
