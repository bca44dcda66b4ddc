import 'package:flutter/material.dart';

import '../services/audio_service.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';

/// Simple stats: messages, gifts, played, time online.
class StatsRow extends StatelessWidget {
  const StatsRow({super.key, required this.stats});

  final AudioStats? stats;

  @override
  Widget build(BuildContext context) {
    final s = stats;
    String uptime(Duration d) => d.inHours > 0
        ? '${d.inHours}:${(d.inMinutes % 60).toString().padLeft(2, '0')}'
        : '${d.inMinutes}:${(d.inSeconds % 60).toString().padLeft(2, '0')}';
    final cells = <(Msg, String)>[
      (Msg.statsChat, '${s?.chat ?? 0}'),
      (Msg.statsGifts, '${s?.giftCount ?? 0}'),
      (Msg.statsPlayed, '${s?.played ?? 0}'),
      (Msg.statsUptime, uptime(s?.uptime ?? Duration.zero)),
    ];
    return Row(
      children: [
        for (final (label, value) in cells)
          Expanded(
            child: Column(
              children: [
                Text(value, style: AppText.h2.copyWith(color: AppColors.turquoise)),
                const SizedBox(height: 2),
                Text(tr(context, label), style: AppText.caption, textAlign: TextAlign.center),
              ],
            ),
          ),
      ],
    );
  }
}
