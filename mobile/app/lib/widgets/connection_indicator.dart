import 'package:flutter/material.dart';

import '../services/ws_service.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';

/// A dot and a line of text: connected / connecting / reconnecting / offline.
class ConnectionIndicator extends StatelessWidget {
  const ConnectionIndicator({super.key, required this.state});

  final ConnState state;

  @override
  Widget build(BuildContext context) {
    final (color, msg) = switch (state) {
      ConnState.connected => (AppColors.ok, Msg.connected),
      ConnState.connecting => (AppColors.warning, Msg.connecting),
      ConnState.reconnecting => (AppColors.warning, Msg.reconnecting),
      ConnState.disconnected => (AppColors.error, Msg.disconnected),
    };
    return Semantics(
      liveRegion: true,
      child: Row(
        children: [
          Container(
            width: 12,
            height: 12,
            decoration: BoxDecoration(
              color: color,
              shape: BoxShape.circle,
              boxShadow: [BoxShadow(color: color.withValues(alpha: 0.6), blurRadius: 8)],
            ),
          ),
          const SizedBox(width: 10),
          Expanded(child: Text(tr(context, msg), style: AppText.body)),
        ],
      ),
    );
  }
}
