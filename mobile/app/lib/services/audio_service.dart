import 'package:ffi/ffi.dart';

import '../ffi/native_library.dart';
import '../ffi/ttboost_bindings.dart';
import '../utils/constants.dart';
import 'core_client.dart';

/// The user's audio settings (`ttb_settings`), as an immutable Dart value.
final class AudioSettings {
  const AudioSettings({
    this.ttsEnabled = true,
    this.ttsVolume = 1.0,
    this.giftsEnabled = true,
    this.giftsVolume = 1.0,
    this.profanityFilter = true,
    this.notifications = true,
    this.autoStartTts = true,
    this.binaryMode = false,
  });

  final bool ttsEnabled;
  final double ttsVolume;
  final bool giftsEnabled;
  final double giftsVolume;
  final bool profanityFilter;
  final bool notifications;
  final bool autoStartTts;
  final bool binaryMode;

  AudioSettings copyWith({
    bool? ttsEnabled,
    double? ttsVolume,
    bool? giftsEnabled,
    double? giftsVolume,
    bool? profanityFilter,
    bool? notifications,
    bool? autoStartTts,
    bool? binaryMode,
  }) =>
      AudioSettings(
        ttsEnabled: ttsEnabled ?? this.ttsEnabled,
        ttsVolume: ttsVolume ?? this.ttsVolume,
        giftsEnabled: giftsEnabled ?? this.giftsEnabled,
        giftsVolume: giftsVolume ?? this.giftsVolume,
        profanityFilter: profanityFilter ?? this.profanityFilter,
        notifications: notifications ?? this.notifications,
        autoStartTts: autoStartTts ?? this.autoStartTts,
        binaryMode: binaryMode ?? this.binaryMode,
      );
}

/// Simple statistics (`ttb_stats`).
typedef AudioStats = ({int chat, int gifts, int giftCount, int played, int skipped, int filtered, int reconnects, Duration uptime});

/// Sound: the core decodes (Ogg Opus / Opus frames), mixes the TTS voice with
/// overlapping gift sounds and applies volumes; the platform sink (AAudio /
/// AudioQueue, in C) pulls the PCM. No Dart audio player is involved.
final class AudioService {
  AudioService(this._core);

  final CoreClient _core;

  TtbBindings get _b => NativeTtboost.instance.core;

  AudioSettings get settings => using((arena) {
        final p = arena<TtbSettings>();
        _b.ttb_client_get_settings(_core.handle, p);
        final s = p.ref;
        return AudioSettings(
          ttsEnabled: s.tts_enabled,
          ttsVolume: s.tts_volume,
          giftsEnabled: s.gifts_enabled,
          giftsVolume: s.gifts_volume,
          profanityFilter: s.profanity_filter,
          notifications: s.notifications,
          autoStartTts: s.auto_start_tts,
          binaryMode: s.binary_mode,
        );
      });

  /// Validated, persisted and applied live by the core.
  set settings(AudioSettings v) => using((arena) {
        final p = arena<TtbSettings>();
        p.ref
          ..tts_enabled = v.ttsEnabled
          ..tts_volume = v.ttsVolume.clamp(0.0, 1.0)
          ..gifts_enabled = v.giftsEnabled
          ..gifts_volume = v.giftsVolume.clamp(0.0, 1.0)
          ..profanity_filter = v.profanityFilter
          ..notifications = v.notifications
          ..auto_start_tts = v.autoStartTts
          ..binary_mode = v.binaryMode;
        _core.check(_b.ttb_client_set_settings(_core.handle, p));
      });

  AudioStats get stats => using((arena) {
        final p = arena<TtbStats>();
        _b.ttb_client_get_stats(_core.handle, p);
        final s = p.ref;
        return (
          chat: s.chat_messages,
          gifts: s.gifts,
          giftCount: s.gift_count,
          played: s.played,
          skipped: s.skipped,
          filtered: s.filtered,
          reconnects: s.reconnects,
          uptime: Duration(milliseconds: s.uptime_ms),
        );
      });

  /// Opens the platform output pulling the core's mix.
  void startOutput() {
    final sink = NativeTtboost.instance.sink;
    if (sink.ttb_sink_client() == _core.handle && sink.ttb_sink_is_running()) return;
    _core.check(sink.ttb_sink_start(_core.handle, kSampleRate, kChannels));
  }

  void stopOutput() => NativeTtboost.instance.sink.ttb_sink_stop();

  /// After an interruption (call, alarm) or a route change.
  void resumeOutput() => NativeTtboost.instance.sink.ttb_sink_resume();

  bool get outputRunning => NativeTtboost.instance.sink.ttb_sink_is_running();
}
