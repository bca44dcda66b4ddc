import 'package:flutter/material.dart';
import 'package:provider/provider.dart';

import '../providers/audio_provider.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';
import '../widgets/big_switch_tile.dart';
import '../widgets/connection_indicator.dart';
import '../widgets/event_log.dart';
import '../widgets/stats_row.dart';

/// Three big switches (TTS, gifts, background), the connection indicator
/// (with the TikTok LIVE state beside it), the 5-line log and simple stats.
class HomeScreen extends StatelessWidget {
  const HomeScreen({super.key});

  @override
  Widget build(BuildContext context) {
    final audio = context.watch<AudioProvider>();
    if (audio.takeNotice() case final notice?) {
      WidgetsBinding.instance.addPostFrameCallback((_) {
        if (!context.mounted) return;
        ScaffoldMessenger.of(context).showSnackBar(SnackBar(content: Text(tr(context, notice))));
      });
    }
    return Scaffold(
      appBar: AppBar(
        title: const Text('TTBoost'),
        actions: [
          IconButton(
            tooltip: tr(context, Msg.settings),
            icon: const Icon(Icons.tune_rounded),
            onPressed: () => Navigator.of(context).pushNamed(Routes.settings),
          ),
        ],
      ),
      body: SafeArea(
        child: ListView(
          padding: const EdgeInsets.fromLTRB(20, 8, 20, 24),
          children: [
            ConnectionIndicator(state: audio.connection, tiktok: audio.tiktok),
            const SizedBox(height: 20),
            BigSwitchTile(
              icon: Icons.record_voice_over_rounded,
              title: tr(context, Msg.tts),
              value: audio.settings.ttsEnabled,
              onChanged: audio.setTts,
            ),
            BigSwitchTile(
              icon: Icons.card_giftcard_rounded,
              title: tr(context, Msg.gifts),
              value: audio.settings.giftsEnabled,
              onChanged: audio.setGifts,
            ),
            BigSwitchTile(
              icon: Icons.layers_rounded,
              title: tr(context, Msg.background),
              subtitle: tr(context, audio.backgroundOn ? Msg.backgroundOn : Msg.backgroundOff),
              value: audio.backgroundOn,
              onChanged: audio.backgroundSwitchable ? audio.setBackground : null,
            ),
            const SizedBox(height: 8),
            EventLog(events: audio.log),
            const SizedBox(height: 20),
            StatsRow(stats: audio.stats),
          ],
        ),
      ),
    );
  }
}
