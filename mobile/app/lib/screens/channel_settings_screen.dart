import 'package:flutter/material.dart';
import 'package:provider/provider.dart';

import '../ffi/ttboost_bindings.dart';
import '../models/channel_settings.dart';
import '../providers/audio_provider.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';

/// Settings › What is read: the channel settings the server keeps for the
/// license (settings.proto), in five groups that open one at a time —
/// Reading, Pacing, Voice, Words never read, Gifts — each closed group
/// showing what it is set to in one line. The streamer edits a draft; Save
/// sends the whole document (PUT /me/settings through the core) and shows
/// the server's own words when it refuses a value. Defaults are the
/// schema's zero values, i.e. what the server did before.
class ChannelSettingsScreen extends StatefulWidget {
  const ChannelSettingsScreen({super.key});

  @override
  State<ChannelSettingsScreen> createState() => _ChannelSettingsScreenState();
}

class _ChannelSettingsScreenState extends State<ChannelSettingsScreen> {
  late ChannelSettings _draft;
  final _template = TextEditingController();
  final _prefix = TextEditingController();
  final _maxChars = TextEditingController();
  final _voices = TextEditingController();
  final _words = TextEditingController();
  final _minDiamonds = TextEditingController();
  final _giftSounds = TextEditingController();
  bool _commandOnly = false;
  bool _saved = false;

  @override
  void initState() {
    super.initState();
    final audio = context.read<AudioProvider>();
    _load(audio.channel);
    audio.refreshChannel().then((_) {
      if (mounted && !_saved) setState(() => _load(context.read<AudioProvider>().channel));
    });
  }

  @override
  void dispose() {
    for (final c in [_template, _prefix, _maxChars, _voices, _words, _minDiamonds, _giftSounds]) {
      c.dispose();
    }
    super.dispose();
  }

  void _load(ChannelSettings s) {
    _draft = s;
    _template.text = s.textTemplate;
    _commandOnly = s.commandPrefix.isNotEmpty;
    _prefix.text = s.commandPrefix.isEmpty ? '!tts' : s.commandPrefix;
    _maxChars.text = s.maxChars > 0 ? '${s.maxChars}' : '';
    _voices.text = s.voices.map((v) => '${v.language} = ${v.voice}').join('\n');
    _words.text = s.bannedWords.join('\n');
    _minDiamonds.text = s.minDiamonds > 0 ? '${s.minDiamonds}' : '';
    _giftSounds.text = s.giftSounds.map((g) => '${g.giftName} = ${g.sound}').join('\n');
  }

  static int _int(String s) => int.tryParse(s.trim()) ?? 0;

  static List<(String, String)> _pairs(String text) => [
        for (final l in text.split('\n').map((l) => l.trim()).where((l) => l.isNotEmpty))
          l.contains('=')
              ? (l.substring(0, l.indexOf('=')).trim(), l.substring(l.indexOf('=') + 1).trim())
              : (l, ''),
      ];

  /// The draft with the text fields read back.
  ChannelSettings _collect() => _draft.copyWith(
        textTemplate: _template.text.trim(),
        commandPrefix: _commandOnly ? _prefix.text.trim() : '',
        maxChars: _int(_maxChars.text),
        voices: [for (final (a, b) in _pairs(_voices.text)) LanguageVoice(a, b)],
        bannedWords: _words.text
            .split(RegExp(r'[\n,]'))
            .map((w) => w.trim())
            .where((w) => w.isNotEmpty)
            .toList(growable: false),
        minDiamonds: _int(_minDiamonds.text),
        giftSounds: [for (final (a, b) in _pairs(_giftSounds.text)) GiftSound(a, b)],
      );

  Future<void> _save() async {
    FocusScope.of(context).unfocus();
    final audio = context.read<AudioProvider>();
    final ok = await audio.saveChannel(_collect());
    if (!mounted) return;
    setState(() {
      _saved = ok;
      if (ok) _load(audio.channel); // as the server keeps it
    });
  }

  void _edit(ChannelSettings next) => setState(() {
        _draft = next;
        _saved = false;
      });

  @override
  Widget build(BuildContext context) {
    final audio = context.watch<AudioProvider>();
    final d = _draft;
    final error = switch (audio.channelError) {
      final String s => s,
      final Msg m => tr(context, m),
      _ => null,
    };
    return Scaffold(
      appBar: AppBar(title: Text(tr(context, Msg.chTitle))),
      body: SafeArea(
        child: ListView(
          padding: const EdgeInsets.fromLTRB(20, 8, 20, 24),
          children: [
            Text(tr(context, Msg.chIntro), style: AppText.caption),
            if (audio.channelSource == TTB_CHANNEL_SAVED)
              Padding(
                padding: const EdgeInsets.only(top: 6),
                child: Text(tr(context, Msg.chOffline), style: AppText.caption.copyWith(color: AppColors.error)),
              ),
            const SizedBox(height: 12),
            _Group(
              icon: Icons.record_voice_over_rounded,
              title: tr(context, Msg.chReading),
              summary: _readingSummary(context, d),
              initiallyExpanded: true,
              children: [
                DropdownButtonFormField<UsernameMode>(
                  value: d.username,
                  decoration: InputDecoration(labelText: tr(context, Msg.chUsername)),
                  items: [
                    DropdownMenuItem(value: UsernameMode.serverDefault, child: Text(tr(context, Msg.chUsernameDefault))),
                    DropdownMenuItem(value: UsernameMode.always, child: Text(tr(context, Msg.chUsernameAlways))),
                    DropdownMenuItem(value: UsernameMode.never, child: Text(tr(context, Msg.chUsernameNever))),
                  ],
                  onChanged: (v) => _edit(d.copyWith(username: v)),
                ),
                const SizedBox(height: 12),
                TextField(
                  controller: _template,
                  maxLength: 128,
                  decoration: InputDecoration(
                    labelText: tr(context, Msg.chTemplate),
                    hintText: '{user}: {message}',
                    helperText: tr(context, Msg.chTemplateHelp),
                  ),
                ),
                SegmentedButton<bool>(
                  segments: [
                    ButtonSegment(value: false, label: Text(tr(context, Msg.chReadAll))),
                    ButtonSegment(value: true, label: Text(tr(context, Msg.chReadCommand))),
                  ],
                  selected: {_commandOnly},
                  onSelectionChanged: (s) => setState(() => _commandOnly = s.first),
                ),
                if (_commandOnly)
                  TextField(
                    controller: _prefix,
                    maxLength: 16,
                    decoration: InputDecoration(labelText: tr(context, Msg.chCommand), hintText: '!tts'),
                  ),
                const SizedBox(height: 8),
                TextField(
                  controller: _maxChars,
                  keyboardType: TextInputType.number,
                  decoration: InputDecoration(
                    labelText: tr(context, Msg.chMaxChars),
                    hintText: tr(context, Msg.chServerLimit),
                  ),
                ),
                const SizedBox(height: 12),
                Text(tr(context, Msg.chLeaveOut), style: AppText.body),
                Wrap(spacing: 8, children: [
                  FilterChip(
                    label: Text(tr(context, Msg.chLinks)),
                    selected: d.stripLinks,
                    onSelected: (v) => _edit(d.copyWith(stripLinks: v)),
                  ),
                  FilterChip(
                    label: Text(tr(context, Msg.chEmoji)),
                    selected: d.stripEmoji,
                    onSelected: (v) => _edit(d.copyWith(stripEmoji: v)),
                  ),
                  FilterChip(
                    label: Text(tr(context, Msg.chMentions)),
                    selected: d.stripMentions,
                    onSelected: (v) => _edit(d.copyWith(stripMentions: v)),
                  ),
                ]),
              ],
            ),
            _Group(
              icon: Icons.timer_outlined,
              title: tr(context, Msg.chPacing),
              summary: _pacingSummary(context, d),
              children: [
                _SteppedSlider(
                  label: tr(context, Msg.chCooldown),
                  steps: _cooldownSteps,
                  value: d.cooldownSeconds,
                  text: d.cooldownSeconds == 0 ? tr(context, Msg.chNone) : '${d.cooldownSeconds} s',
                  onChanged: (v) => _edit(d.copyWith(cooldownSeconds: v)),
                ),
                _SteppedSlider(
                  label: tr(context, Msg.chBacklog),
                  steps: _backlogSteps,
                  value: d.maxBacklogSeconds,
                  text: d.maxBacklogSeconds == 0 ? tr(context, Msg.chServerDefault) : '${d.maxBacklogSeconds} s',
                  onChanged: (v) => _edit(d.copyWith(maxBacklogSeconds: v)),
                ),
              ],
            ),
            _Group(
              icon: Icons.graphic_eq_rounded,
              title: tr(context, Msg.chVoice),
              summary: _voiceSummary(context, d),
              children: [
                _LabeledSlider(
                  label: tr(context, Msg.chRate),
                  value: (d.rate == 0 ? 175 : d.rate).clamp(80, 450).toDouble(),
                  min: 80,
                  max: 450,
                  divisions: 74,
                  text: d.rate == 0 ? '175 · ${tr(context, Msg.chServerDefault)}' : '${d.rate}',
                  onChanged: (v) => _edit(d.copyWith(rate: v.round())),
                ),
                _LabeledSlider(
                  label: tr(context, Msg.chPitch),
                  value: (d.pitch == 0 ? 50 : d.pitch).clamp(1, 99).toDouble(),
                  min: 1,
                  max: 99,
                  divisions: 98,
                  text: d.pitch == 0 ? '50 · ${tr(context, Msg.chServerDefault)}' : '${d.pitch}',
                  onChanged: (v) => _edit(d.copyWith(pitch: v.round())),
                ),
                if (d.rate != 0 || d.pitch != 0)
                  Align(
                    alignment: Alignment.centerLeft,
                    child: TextButton(
                      onPressed: () => _edit(d.copyWith(rate: 0, pitch: 0)),
                      child: Text(tr(context, Msg.chVoiceReset)),
                    ),
                  ),
                TextField(
                  controller: _voices,
                  minLines: 2,
                  maxLines: 6,
                  decoration: InputDecoration(
                    labelText: tr(context, Msg.chVoices),
                    hintText: 'kk = ru',
                    helperMaxLines: 3,
                    helperText: tr(context, Msg.chVoicesHelp),
                  ),
                ),
              ],
            ),
            _Group(
              icon: Icons.block_rounded,
              title: tr(context, Msg.chWords),
              summary: d.bannedWords.isEmpty ? tr(context, Msg.chNone) : '${d.bannedWords.length}',
              children: [
                TextField(
                  controller: _words,
                  minLines: 3,
                  maxLines: 8,
                  decoration: InputDecoration(
                    labelText: tr(context, Msg.chWordsLabel),
                    helperText: tr(context, Msg.chWordsHelp),
                    helperMaxLines: 3,
                  ),
                ),
              ],
            ),
            _Group(
              icon: Icons.card_giftcard_rounded,
              title: tr(context, Msg.chGifts),
              summary: _giftsSummary(context, d),
              children: [
                TextField(
                  controller: _minDiamonds,
                  keyboardType: TextInputType.number,
                  decoration: InputDecoration(
                    labelText: tr(context, Msg.chMinDiamonds),
                    hintText: '0',
                    helperText: tr(context, Msg.chMinDiamondsHelp),
                  ),
                ),
                const SizedBox(height: 12),
                TextField(
                  controller: _giftSounds,
                  minLines: 2,
                  maxLines: 6,
                  decoration: InputDecoration(
                    labelText: tr(context, Msg.chGiftSounds),
                    hintText: 'Rose = u-1',
                    helperText: tr(context, Msg.chGiftSoundsHelp),
                    helperMaxLines: 3,
                  ),
                ),
                const SizedBox(height: 12),
                Text(tr(context, Msg.chMySounds), style: AppText.body),
                if (audio.sounds.isEmpty) Text(tr(context, Msg.chNoSounds), style: AppText.caption),
                for (final s in audio.sounds)
                  ListTile(
                    contentPadding: EdgeInsets.zero,
                    dense: true,
                    title: Text(s.name, style: AppText.body),
                    subtitle: Text('${s.id} · ${(s.durationMs / 1000).toStringAsFixed(1)} s', style: AppText.caption),
                    trailing: IconButton(
                      icon: const Icon(Icons.delete_outline_rounded),
                      tooltip: tr(context, Msg.chDelete),
                      onPressed: () => audio.deleteSound(s.id),
                    ),
                    onTap: () {
                      final t = _giftSounds.text.trim();
                      _giftSounds.text = '${t.isEmpty ? '' : '$t\n'}Rose = ${s.id}';
                    },
                  ),
              ],
            ),
            const SizedBox(height: 16),
            if (error != null)
              Padding(
                padding: const EdgeInsets.only(bottom: 8),
                child: Text(error, style: AppText.caption.copyWith(color: AppColors.error)),
              ),
            if (_saved && error == null)
              Padding(
                padding: const EdgeInsets.only(bottom: 8),
                child: Text(tr(context, Msg.chSaved), style: AppText.caption.copyWith(color: AppColors.turquoise)),
              ),
            FilledButton(
              style: FilledButton.styleFrom(minimumSize: const Size.fromHeight(50)),
              onPressed: audio.channelSaving ? null : _save,
              child: Text(tr(context, Msg.tiktokSave)),
            ),
            TextButton(
              onPressed: () => setState(() => _load(ChannelSettings.defaults)),
              child: Text(tr(context, Msg.chDefaults)),
            ),
          ],
        ),
      ),
    );
  }

  String _readingSummary(BuildContext context, ChannelSettings d) => [
        _commandOnly ? '${tr(context, Msg.chReadCommand)}: ${_prefix.text}' : tr(context, Msg.chReadAll),
        if (d.username == UsernameMode.never) tr(context, Msg.chUsernameNever),
        if (d.stripLinks || d.stripEmoji || d.stripMentions)
          '${tr(context, Msg.chLeaveOut)}: ${[
            if (d.stripLinks) tr(context, Msg.chLinks),
            if (d.stripEmoji) tr(context, Msg.chEmoji),
            if (d.stripMentions) tr(context, Msg.chMentions),
          ].join(', ')}',
      ].join(' · ');

  String _pacingSummary(BuildContext context, ChannelSettings d) =>
      '${tr(context, Msg.chCooldown)}: ${d.cooldownSeconds == 0 ? tr(context, Msg.chNone) : '${d.cooldownSeconds} s'}';

  String _voiceSummary(BuildContext context, ChannelSettings d) =>
      '${tr(context, Msg.chRate)}: ${d.rate == 0 ? 175 : d.rate} · ${tr(context, Msg.chPitch)}: ${d.pitch == 0 ? 50 : d.pitch}';

  String _giftsSummary(BuildContext context, ChannelSettings d) =>
      '${tr(context, Msg.chMinDiamonds)}: ${d.minDiamonds} · ${d.giftSounds.length} ♪';
}

/// One group: a card with a title, a one-line summary and its controls.
class _Group extends StatelessWidget {
  const _Group({
    required this.icon,
    required this.title,
    required this.summary,
    required this.children,
    this.initiallyExpanded = false,
  });

  final IconData icon;
  final String title;
  final String summary;
  final List<Widget> children;
  final bool initiallyExpanded;

  @override
  Widget build(BuildContext context) => Card(
        color: AppColors.surface,
        margin: const EdgeInsets.only(bottom: 12),
        shape: RoundedRectangleBorder(
          borderRadius: BorderRadius.circular(16),
          side: const BorderSide(color: AppColors.outline),
        ),
        clipBehavior: Clip.antiAlias,
        child: ExpansionTile(
          leading: Icon(icon, color: AppColors.violet),
          title: Text(title, style: AppText.body.copyWith(fontWeight: FontWeight.w600)),
          subtitle: Text(summary, style: AppText.caption, maxLines: 2, overflow: TextOverflow.ellipsis),
          initiallyExpanded: initiallyExpanded,
          childrenPadding: const EdgeInsets.fromLTRB(16, 0, 16, 16),
          expandedCrossAxisAlignment: CrossAxisAlignment.stretch,
          children: children,
        ),
      );
}

// The pacing sliders' steps: the whole range the server accepts (cooldown up
// to 3600 s, backlog up to 600 s: server/src/settings_rules.c), finer where a
// streamer usually sets them.
const _cooldownSteps = [0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600];
const _backlogSteps = [0, 10, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600];

/// A slider over fixed steps. A value between two steps (set on the web, say)
/// sits at the nearest one and keeps its own text until the slider moves.
class _SteppedSlider extends StatelessWidget {
  const _SteppedSlider({
    required this.label,
    required this.steps,
    required this.value,
    required this.text,
    required this.onChanged,
  });

  final String label;
  final List<int> steps;
  final int value;
  final String text;
  final ValueChanged<int> onChanged;

  int get _nearest {
    var best = 0;
    for (var i = 1; i < steps.length; i++) {
      if ((steps[i] - value).abs() < (steps[best] - value).abs()) best = i;
    }
    return best;
  }

  @override
  Widget build(BuildContext context) => _LabeledSlider(
        label: label,
        value: _nearest.toDouble(),
        min: 0,
        max: (steps.length - 1).toDouble(),
        divisions: steps.length - 1,
        text: text,
        onChanged: (v) => onChanged(steps[v.round()]),
      );
}

class _LabeledSlider extends StatelessWidget {
  const _LabeledSlider({
    required this.label,
    required this.value,
    required this.min,
    required this.max,
    required this.divisions,
    required this.text,
    required this.onChanged,
  });

  final String label;
  final double value, min, max;
  final int divisions;
  final String text;
  final ValueChanged<double> onChanged;

  @override
  Widget build(BuildContext context) => Padding(
        padding: const EdgeInsets.only(top: 8),
        child: Column(
          crossAxisAlignment: CrossAxisAlignment.start,
          children: [
            Row(children: [
              Expanded(child: Text(label, style: AppText.body)),
              Text(text, style: AppText.caption),
            ]),
            Slider(value: value, min: min, max: max, divisions: divisions, onChanged: onChanged),
          ],
        ),
      );
}
