import 'package:flutter/material.dart';

import '../utils/constants.dart';

/// One of the three big switches on Home.
class BigSwitchTile extends StatelessWidget {
  const BigSwitchTile({
    super.key,
    required this.icon,
    required this.title,
    required this.value,
    this.subtitle,
    this.onChanged,
  });

  final IconData icon;
  final String title;
  final String? subtitle;
  final bool value;

  /// Null makes the switch read-only (a status).
  final ValueChanged<bool>? onChanged;

  @override
  Widget build(BuildContext context) {
    final accent = value ? AppColors.turquoise : AppColors.textSecondary;
    return Container(
      margin: const EdgeInsets.only(bottom: 12),
      padding: const EdgeInsets.symmetric(horizontal: 18, vertical: 14),
      decoration: BoxDecoration(
        color: AppColors.surface,
        borderRadius: BorderRadius.circular(18),
        border: Border.all(color: value ? AppColors.violet : AppColors.outline, width: 1.2),
      ),
      child: Row(
        children: [
          Icon(icon, color: accent, size: 30),
          const SizedBox(width: 16),
          Expanded(
            child: Column(
              crossAxisAlignment: CrossAxisAlignment.start,
              children: [
                Text(title, style: AppText.body.copyWith(fontWeight: FontWeight.w600)),
                if (subtitle case final s?) ...[
                  const SizedBox(height: 2),
                  Text(s, style: AppText.caption),
                ],
              ],
            ),
          ),
          Transform.scale(
            scale: 1.25,
            child: Switch(value: value, onChanged: onChanged),
          ),
        ],
      ),
    );
  }
}
