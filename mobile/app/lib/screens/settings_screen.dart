import 'package:flutter/material.dart';
import 'package:provider/provider.dart';

import '../providers/audio_provider.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';
import '../widgets/tiktok_field.dart';
import 'channel_settings_screen.dart';

/// The TikTok @username, the way to the channel settings (What is read), two
/// volume sliders and three checkboxes, plus sign-out.
class SettingsScreen extends StatelessWidget {
  const SettingsScreen({super.key});

  @override
  Widget build(BuildContext context) {
    final audio = context.watch<AudioProvider>();
    final s = audio.settings;
    return Scaffold(
      appBar: AppBar(title: Text(tr(context, Msg.settings))),
      body: SafeArea(
        child: ListView(
          padding: const EdgeInsets.fromLTRB(20, 8, 20, 24),
          children: [
            const SizedBox(height: 12),
            const TiktokField(),
            const Divider(color: AppColors.outline, height: 32),
            ListTile(
              contentPadding: EdgeInsets.zero,
              leading: const Icon(Icons.tune_rounded, color: AppColors.violet),
              title: Text(tr(context, Msg.chTitle), style: AppText.body.copyWith(fontWeight: FontWeight.w600)),
              subtitle: Text(tr(context, Msg.chOpen), style: AppText.caption),
              trailing: const Icon(Icons.chevron_right_rounded, color: AppColors.textSecondary),
              onTap: () => Navigator.of(context)
                  .push(MaterialPageRoute<void>(builder: (_) => const ChannelSettingsScreen())),
            ),
            const Divider(color: AppColors.outline, height: 32),
            _VolumeSlider(
              label: tr(context, Msg.ttsVolume),
              icon: Icons.record_voice_over_rounded,
              value: s.ttsVolume,
              onChanged: audio.setTtsVolume,
            ),
            _VolumeSlider(
              label: tr(context, Msg.giftsVolume),
              icon: Icons.card_giftcard_rounded,
              value: s.giftsVolume,
              onChanged: audio.setGiftsVolume,
            ),
            const Divider(color: AppColors.outline, height: 32),
            _Check(label: tr(context, Msg.profanityFilter), value: s.profanityFilter, onChanged: audio.setProfanityFilter),
            _Check(label: tr(context, Msg.notifications), value: s.notifications, onChanged: audio.setNotifications),
            _Check(label: tr(context, Msg.autoStartTts), value: s.autoStartTts, onChanged: audio.setAutoStartTts),
            const SizedBox(height: 32),
            OutlinedButton.icon(
              style: OutlinedButton.styleFrom(
                foregroundColor: AppColors.textSecondary,
                side: const BorderSide(color: AppColors.outline),
                minimumSize: const Size.fromHeight(50),
              ),
              icon: const Icon(Icons.logout_rounded),
              label: Text(tr(context, Msg.logout)),
              onPressed: () async {
                final nav = Navigator.of(context);
                await audio.logout();
                nav.popUntil((route) => route.isFirst); // the gate shows Login
              },
            ),
          ],
        ),
      ),
    );
  }
}

class _VolumeSlider extends StatelessWidget {
  const _VolumeSlider({required this.label, required this.icon, required this.value, required this.onChanged});

  final String label;
  final IconData icon;
  final double value;
  final ValueChanged<double> onChanged;

  @override
  Widget build(BuildContext context) => Padding(
        padding: const EdgeInsets.only(top: 12),
        child: Column(
          crossAxisAlignment: CrossAxisAlignment.start,
          children: [
            Row(children: [
              Icon(icon, color: AppColors.textSecondary, size: 20),
              const SizedBox(width: 8),
              Expanded(child: Text(label, style: AppText.body)),
              Text('${(value * 100).round()}%', style: AppText.caption),
            ]),
            Slider(value: value.clamp(0.0, 1.0), divisions: 20, onChanged: onChanged),
          ],
        ),
      );
}

class _Check extends StatelessWidget {
  const _Check({required this.label, required this.value, required this.onChanged});

  final String label;
  final bool value;
  final ValueChanged<bool> onChanged;

  @override
  Widget build(BuildContext context) => CheckboxListTile(
        contentPadding: EdgeInsets.zero,
        controlAffinity: ListTileControlAffinity.leading,
        title: Text(label, style: AppText.body),
        value: value,
        onChanged: (v) => onChanged(v ?? false),
      );
}
