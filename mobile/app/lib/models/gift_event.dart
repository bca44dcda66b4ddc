part of 'live_event.dart';

/// A gift (`{"type":"gift","gift_name":…,"count":…}` on the wire).
final class GiftEvent extends LiveEvent {
  const GiftEvent({
    required super.seq,
    required super.time,
    required this.user,
    required this.giftName,
    required this.count,
  });

  /// Sender, or "" when the server did not say.
  final String user;
  final String giftName;
  final int count;
}
