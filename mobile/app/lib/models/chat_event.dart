part of 'live_event.dart';

/// A chat message (`{"type":"chat","user":…,"message":…}` on the wire).
final class ChatEvent extends LiveEvent {
  const ChatEvent({
    required super.seq,
    required super.time,
    required this.user,
    required this.message,
    this.filtered = false,
  });

  final String user;

  /// The message, with words masked by the core when [filtered].
  final String message;

  /// Caught by the profanity filter: shown in the log, not read aloud.
  final bool filtered;
}
