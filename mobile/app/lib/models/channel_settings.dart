import 'dart:convert';

/// Whether the sender's name is read before the message (settings.proto
/// `UsernameMode`; the JSON spells the enum's name).
enum UsernameMode {
  serverDefault('USERNAME_MODE_DEFAULT'),
  always('USERNAME_MODE_ALWAYS'),
  never('USERNAME_MODE_NEVER');

  const UsernameMode(this.json);

  final String json;

  static UsernameMode fromJson(Object? v) =>
      UsernameMode.values.firstWhere((m) => m.json == v, orElse: () => UsernameMode.serverDefault);
}

/// One "language = voice" pair (settings.proto `LanguageVoice`).
final class LanguageVoice {
  const LanguageVoice(this.language, this.voice);

  final String language;
  final String voice;
}

/// One gift's own sound (settings.proto `GiftSound`).
final class GiftSound {
  const GiftSound(this.giftName, this.sound);

  final String giftName;
  final String sound;
}

/// The streamer's channel settings (ttboost.v1.ChannelSettings), as the core
/// hands them over: the schema's JSON, where a field left out is its default
/// (`{}` is the server's defaults). Every default here is the schema's zero
/// value, i.e. today's behaviour. [toJson] leaves defaults out and keeps
/// the fields this app does not know ([_unknown]) so a newer server's
/// settings survive a save from an older app.
final class ChannelSettings {
  const ChannelSettings({
    this.username = UsernameMode.serverDefault,
    this.textTemplate = '',
    this.maxChars = 0,
    this.stripLinks = false,
    this.stripEmoji = false,
    this.stripMentions = false,
    this.commandPrefix = '',
    this.cooldownSeconds = 0,
    this.maxBacklogSeconds = 0,
    this.voices = const [],
    this.rate = 0,
    this.pitch = 0,
    this.bannedWords = const [],
    this.minDiamonds = 0,
    this.giftSounds = const [],
    this.updatedMs = 0,
    Map<String, Object?> unknown = const {},
  }) : _unknown = unknown;

  // Reading
  final UsernameMode username;
  final String textTemplate; // "" = "{user}: {message}"
  final int maxChars; // 0 = the server's limit
  final bool stripLinks, stripEmoji, stripMentions;
  final String commandPrefix; // "" = every chat is read
  // Pacing
  final int cooldownSeconds; // 0 = none
  final int maxBacklogSeconds; // 0 = the server's --tts-backlog
  // Voice
  final List<LanguageVoice> voices;
  final int rate; // 80..450 words a minute, 0 = espeak-ng's 175
  final int pitch; // 1..99, 0 = espeak-ng's 50
  // Words never read
  final List<String> bannedWords;
  // Gifts
  final int minDiamonds; // 0 = every gift sounds
  final List<GiftSound> giftSounds;
  /// Set by the server on each change (unix ms); never sent back.
  final int updatedMs;
  final Map<String, Object?> _unknown;

  static const defaults = ChannelSettings();

  static int _int(Object? v) => switch (v) {
        int i => i,
        double d => d.toInt(),
        String s => int.tryParse(s) ?? 0,
        _ => 0,
      };

  static Map<String, Object?> _obj(Object? v) => v is Map<String, Object?> ? v : const {};

  static List<Object?> _list(Object? v) => v is List<Object?> ? v : const [];

  /// Parses the core's JSON; anything malformed reads as the defaults.
  factory ChannelSettings.fromJson(String json) {
    Object? root;
    try {
      root = jsonDecode(json);
    } on FormatException {
      return defaults;
    }
    final d = _obj(root);
    final r = _obj(d['reading']), p = _obj(d['pacing']), v = _obj(d['voice']), g = _obj(d['gifts']);
    const known = {'reading', 'pacing', 'voice', 'banned_words', 'gifts', 'updated_ms'};
    return ChannelSettings(
      username: UsernameMode.fromJson(r['username']),
      textTemplate: (r['text_template'] as String?) ?? '',
      maxChars: _int(r['max_chars']),
      stripLinks: r['strip_links'] == true,
      stripEmoji: r['strip_emoji'] == true,
      stripMentions: r['strip_mentions'] == true,
      commandPrefix: (r['command_prefix'] as String?) ?? '',
      cooldownSeconds: _int(p['cooldown_seconds']),
      maxBacklogSeconds: _int(p['max_backlog_seconds']),
      voices: [
        for (final x in _list(v['voices']))
          LanguageVoice((_obj(x)['language'] as String?) ?? '', (_obj(x)['voice'] as String?) ?? ''),
      ],
      rate: _int(v['rate']),
      pitch: _int(v['pitch']),
      bannedWords: [for (final w in _list(d['banned_words'])) if (w is String) w],
      minDiamonds: _int(g['min_diamonds']),
      giftSounds: [
        for (final x in _list(g['sounds']))
          GiftSound((_obj(x)['gift_name'] as String?) ?? '', (_obj(x)['sound'] as String?) ?? ''),
      ],
      updatedMs: _int(d['updated_ms']),
      unknown: {
        for (final e in d.entries)
          if (!known.contains(e.key)) e.key: e.value,
      },
    );
  }

  /// The document for PUT /me/settings (defaults and updated_ms left out).
  String toJson() {
    final reading = <String, Object?>{
      if (username != UsernameMode.serverDefault) 'username': username.json,
      if (textTemplate.isNotEmpty) 'text_template': textTemplate,
      if (maxChars > 0) 'max_chars': maxChars,
      if (stripLinks) 'strip_links': true,
      if (stripEmoji) 'strip_emoji': true,
      if (stripMentions) 'strip_mentions': true,
      if (commandPrefix.isNotEmpty) 'command_prefix': commandPrefix,
    };
    final pacing = <String, Object?>{
      if (cooldownSeconds > 0) 'cooldown_seconds': cooldownSeconds,
      if (maxBacklogSeconds > 0) 'max_backlog_seconds': maxBacklogSeconds,
    };
    final voice = <String, Object?>{
      if (voices.isNotEmpty) 'voices': [for (final x in voices) {'language': x.language, 'voice': x.voice}],
      if (rate > 0) 'rate': rate,
      if (pitch > 0) 'pitch': pitch,
    };
    final gifts = <String, Object?>{
      if (minDiamonds > 0) 'min_diamonds': minDiamonds,
      if (giftSounds.isNotEmpty) 'sounds': [for (final x in giftSounds) {'gift_name': x.giftName, 'sound': x.sound}],
    };
    return jsonEncode({
      ..._unknown,
      if (reading.isNotEmpty) 'reading': reading,
      if (pacing.isNotEmpty) 'pacing': pacing,
      if (voice.isNotEmpty) 'voice': voice,
      if (bannedWords.isNotEmpty) 'banned_words': bannedWords,
      if (gifts.isNotEmpty) 'gifts': gifts,
    });
  }

  ChannelSettings copyWith({
    UsernameMode? username,
    String? textTemplate,
    int? maxChars,
    bool? stripLinks,
    bool? stripEmoji,
    bool? stripMentions,
    String? commandPrefix,
    int? cooldownSeconds,
    int? maxBacklogSeconds,
    List<LanguageVoice>? voices,
    int? rate,
    int? pitch,
    List<String>? bannedWords,
    int? minDiamonds,
    List<GiftSound>? giftSounds,
  }) =>
      ChannelSettings(
        username: username ?? this.username,
        textTemplate: textTemplate ?? this.textTemplate,
        maxChars: maxChars ?? this.maxChars,
        stripLinks: stripLinks ?? this.stripLinks,
        stripEmoji: stripEmoji ?? this.stripEmoji,
        stripMentions: stripMentions ?? this.stripMentions,
        commandPrefix: commandPrefix ?? this.commandPrefix,
        cooldownSeconds: cooldownSeconds ?? this.cooldownSeconds,
        maxBacklogSeconds: maxBacklogSeconds ?? this.maxBacklogSeconds,
        voices: voices ?? this.voices,
        rate: rate ?? this.rate,
        pitch: pitch ?? this.pitch,
        bannedWords: bannedWords ?? this.bannedWords,
        minDiamonds: minDiamonds ?? this.minDiamonds,
        giftSounds: giftSounds ?? this.giftSounds,
        updatedMs: updatedMs,
        unknown: _unknown,
      );
}

/// One of the streamer's own sounds (settings.proto `UserSound`).
final class UserSound {
  const UserSound({required this.id, required this.name, required this.durationMs, required this.url});

  final String id; // "u-12": what GiftSound.sound takes
  final String name;
  final int durationMs;
  final String url;

  static UserSound fromMap(Map<String, Object?> m) => UserSound(
        id: (m['id'] as String?) ?? '',
        name: (m['name'] as String?) ?? '',
        durationMs: ChannelSettings._int(m['duration_ms']),
        url: (m['url'] as String?) ?? '',
      );

  /// Parses GET /me/sounds' answer ({"sounds":[…]}).
  static List<UserSound> listFromJson(String json) {
    try {
      final root = jsonDecode(json);
      return [
        for (final x in ChannelSettings._list(ChannelSettings._obj(root)['sounds']))
          if (x is Map<String, Object?>) UserSound.fromMap(x),
      ];
    } on FormatException {
      return const [];
    }
  }
}
