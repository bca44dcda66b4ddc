import 'package:flutter/material.dart';

import '../models/live_event.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';

/// The mini-log: the last [kLogLines] chat messages, gifts and errors.
class EventLog extends StatelessWidget {
  const EventLog({super.key, required this.events});

  final List<LiveEvent> events;

  @override
  Widget build(BuildContext context) {
    return Container(
      width: double.infinity,
      padding: const EdgeInsets.all(16),
      decoration: BoxDecoration(color: AppColors.surface, borderRadius: BorderRadius.circular(18)),
      child: Column(
        crossAxisAlignment: CrossAxisAlignment.start,
        children: [
          Text(tr(context, Msg.logTitle), style: AppText.caption),
          const SizedBox(height: 8),
          if (events.isEmpty)
            Text(tr(context, Msg.logEmpty), style: AppText.caption)
          else
            for (final e in events.take(kLogLines)) _line(context, e),
        ],
      ),
    );
  }

  Widget _line(BuildContext context, LiveEvent e) {
    final (icon, color, who, what) = switch (e) {
      ChatEvent(:final user, :final message, :final filtered) =>
        (filtered ? Icons.block : Icons.chat_bubble_outline, AppColors.turquoise, user, message),
      GiftEvent(:final user, :final giftName, :final count) =>
        (Icons.card_giftcard, AppColors.violet, user, count > 1 ? '$giftName ×$count' : giftName),
      ErrorEvent(:final code) => (Icons.error_outline, AppColors.error, '', tr(context, errorMessage(code))),
      MissedEvent(:final count) => (
          Icons.report_gmailerrorred,
          AppColors.error,
          '',
          count > 0 ? tr(context, Msg.eventsMissed).replaceAll('{n}', '$count') : tr(context, Msg.eventsMaybeMissed)
        ),
      StateEvent(:final reason) => (Icons.wifi, AppColors.textSecondary, '', reason),
      ChannelEvent(:final message) => (Icons.tune_rounded, AppColors.textSecondary, '', message),
      TiktokEvent(:final state) =>
        (Icons.live_tv_rounded, AppColors.textSecondary, tr(context, Msg.tiktokLive), tr(context, tiktokStateMessage(state))),
    };
    return Padding(
      padding: const EdgeInsets.symmetric(vertical: 4),
      child: Row(
        children: [
          Icon(icon, size: 18, color: color),
          const SizedBox(width: 8),
          Expanded(
            child: Text.rich(
              TextSpan(children: [
                if (who.isNotEmpty) TextSpan(text: '$who: ', style: AppText.body.copyWith(fontWeight: FontWeight.w600)),
                TextSpan(text: what, style: AppText.body),
              ]),
              maxLines: 1,
              overflow: TextOverflow.ellipsis,
            ),
          ),
        ],
      ),
    );
  }
}
