import 'package:flutter/material.dart';

import '../models/live_event.dart';
import '../services/ws_service.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';

/// A dot and a line of text: connected / connecting / reconnecting / offline,
/// and, while connected, the TikTok side beside it:
/// "Connected to the server · TikTok LIVE: live". When TikTok reports an
/// error, the server's words follow on a second line.
class ConnectionIndicator extends StatelessWidget {
  const ConnectionIndicator({super.key, required this.state, this.tiktok = TiktokStatus.none});

  final ConnState state;
  final TiktokStatus tiktok;

  /// The colour of a TikTok state: turquoise when live, amber on the way,
  /// red for an error, grey when off or over.
  static Color tiktokColor(TiktokState s) => switch (s) {
        TiktokState.live => AppColors.ok,
        TiktokState.connecting || TiktokState.waiting => AppColors.warning,
        TiktokState.error => AppColors.error,
        TiktokState.off || TiktokState.ended || TiktokState.unknown => AppColors.textSecondary,
      };

  @override
  Widget build(BuildContext context) {
    final (color, msg) = switch (state) {
      ConnState.connected => (AppColors.ok, Msg.connected),
      ConnState.connecting => (AppColors.warning, Msg.connecting),
      ConnState.reconnecting => (AppColors.warning, Msg.reconnecting),
      ConnState.disconnected => (AppColors.error, Msg.disconnected),
    };
    // The TikTok side is only news while the socket is up (it comes from it).
    final showTiktok = state == ConnState.connected && tiktok.state != TiktokState.unknown;
    final tColor = tiktokColor(tiktok.state);
    return Semantics(
      liveRegion: true,
      child: Row(
        crossAxisAlignment: CrossAxisAlignment.start,
        children: [
          Padding(
            padding: const EdgeInsets.only(top: 5),
            child: Container(
              width: 12,
              height: 12,
              decoration: BoxDecoration(
                color: color,
                shape: BoxShape.circle,
                boxShadow: [BoxShadow(color: color.withValues(alpha: 0.6), blurRadius: 8)],
              ),
            ),
          ),
          const SizedBox(width: 10),
          Expanded(
            child: Column(
              crossAxisAlignment: CrossAxisAlignment.start,
              children: [
                Text.rich(
                  TextSpan(children: [
                    TextSpan(text: tr(context, msg)),
                    if (showTiktok) ...[
                      const TextSpan(text: ' · '),
                      TextSpan(text: '${tr(context, Msg.tiktokLive)}: '),
                      TextSpan(
                        text: tr(context, tiktokStateMessage(tiktok.state)),
                        style: TextStyle(color: tColor, fontWeight: FontWeight.w600),
                      ),
                    ],
                  ]),
                  style: AppText.body,
                ),
                if (showTiktok && tiktok.state == TiktokState.error && tiktok.message.isNotEmpty)
                  Padding(
                    padding: const EdgeInsets.only(top: 2),
                    child: Text(tiktok.message, style: AppText.caption, maxLines: 2, overflow: TextOverflow.ellipsis),
                  ),
              ],
            ),
          ),
        ],
      ),
    );
  }
}
