import 'package:flutter/material.dart';

import '../utils/constants.dart';
import '../utils/l10n.dart';

/// Android: asks the streamer to exempt TTBoost from battery optimisation.
class BatteryHintCard extends StatelessWidget {
  const BatteryHintCard({super.key, required this.onAllow});

  final VoidCallback onAllow;

  @override
  Widget build(BuildContext context) => Container(
        margin: const EdgeInsets.only(bottom: 12),
        padding: const EdgeInsets.all(16),
        decoration: BoxDecoration(
          borderRadius: BorderRadius.circular(18),
          border: Border.all(color: AppColors.warning.withValues(alpha: 0.7)),
          color: AppColors.warning.withValues(alpha: 0.08),
        ),
        child: Column(
          crossAxisAlignment: CrossAxisAlignment.start,
          children: [
            Row(children: [
              const Icon(Icons.battery_alert_rounded, color: AppColors.warning),
              const SizedBox(width: 8),
              Expanded(child: Text(tr(context, Msg.batteryHintTitle), style: AppText.body.copyWith(fontWeight: FontWeight.w600))),
            ]),
            const SizedBox(height: 6),
            Text(tr(context, Msg.batteryHintText), style: AppText.caption),
            Align(
              alignment: Alignment.centerRight,
              child: TextButton(onPressed: onAllow, child: Text(tr(context, Msg.batteryHintButton))),
            ),
          ],
        ),
      );
}
