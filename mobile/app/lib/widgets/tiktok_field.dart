import 'package:flutter/material.dart';
import 'package:provider/provider.dart';

import '../models/live_event.dart';
import '../providers/audio_provider.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';
import 'connection_indicator.dart';

/// Settings: the streamer's TikTok @username, saved on the server through the
/// core (`ttb_client_set_tiktok`), the state of the server's connection to
/// that LIVE, and the server's own words when it refuses the handle.
class TiktokField extends StatefulWidget {
  const TiktokField({super.key});

  @override
  State<TiktokField> createState() => _TiktokFieldState();
}

class _TiktokFieldState extends State<TiktokField> {
  final _name = TextEditingController();

  /// The user typed: the server's answers no longer overwrite the field.
  bool _edited = false;
  bool _saved = false;

  @override
  void initState() {
    super.initState();
    _name.text = context.read<AudioProvider>().tiktok.username;
  }

  @override
  void dispose() {
    _name.dispose();
    super.dispose();
  }

  Future<void> _save() async {
    FocusScope.of(context).unfocus();
    final audio = context.read<AudioProvider>();
    final ok = await audio.saveTiktok(_name.text);
    if (!mounted) return;
    setState(() {
      _saved = ok;
      if (ok) {
        _edited = false;
        _name.text = audio.tiktok.username; // as the server keeps it (no @, lower case)
      }
    });
  }

  @override
  Widget build(BuildContext context) {
    final audio = context.watch<AudioProvider>();
    final t = audio.tiktok;
    if (!_edited && !audio.tiktokSaving && _name.text != t.username) {
      // The server's answer arrived after the screen opened: show it (after
      // this frame: the field must not change while it is being built).
      WidgetsBinding.instance.addPostFrameCallback((_) {
        if (mounted && !_edited) _name.text = context.read<AudioProvider>().tiktok.username;
      });
    }
    final error = switch (audio.tiktokError) {
      final String s => s,
      final Msg m => tr(context, m),
      _ => null,
    };
    return Column(
      crossAxisAlignment: CrossAxisAlignment.start,
      children: [
        Row(children: [
          const Icon(Icons.live_tv_rounded, color: AppColors.textSecondary, size: 20),
          const SizedBox(width: 8),
          Expanded(child: Text(tr(context, Msg.tiktokLive), style: AppText.body)),
          if (t.state != TiktokState.unknown)
            Text(
              tr(context, tiktokStateMessage(t.state)),
              style: AppText.caption.copyWith(color: ConnectionIndicator.tiktokColor(t.state)),
            ),
        ]),
        const SizedBox(height: 12),
        TextField(
          controller: _name,
          enabled: !audio.tiktokSaving,
          autocorrect: false,
          enableSuggestions: false,
          keyboardType: TextInputType.visiblePassword, // no autocapitalisation or spaces suggested
          textInputAction: TextInputAction.done,
          onChanged: (_) => setState(() {
            _edited = true;
            _saved = false;
          }),
          onSubmitted: (_) => _save(),
          style: AppText.body,
          decoration: InputDecoration(
            labelText: tr(context, Msg.tiktokUsernameLabel),
            hintText: tr(context, Msg.tiktokUsernameHint),
            prefixText: '@',
            errorText: error,
            errorMaxLines: 3,
            suffixIcon: audio.tiktokSaving
                ? const Padding(
                    padding: EdgeInsets.all(14),
                    child: SizedBox(width: 18, height: 18, child: CircularProgressIndicator(strokeWidth: 2)),
                  )
                : IconButton(
                    tooltip: tr(context, Msg.tiktokSave),
                    icon: Icon(_saved ? Icons.check_circle_rounded : Icons.save_rounded,
                        color: _saved ? AppColors.ok : AppColors.turquoise),
                    onPressed: _save,
                  ),
          ),
        ),
        const SizedBox(height: 8),
        Text(
          _saved ? tr(context, Msg.tiktokSaved) : tr(context, Msg.tiktokHelp),
          style: AppText.caption,
        ),
        if (t.state == TiktokState.error || t.state == TiktokState.waiting)
          if (t.message.isNotEmpty)
            Padding(
              padding: const EdgeInsets.only(top: 4),
              child: Text(t.message, style: AppText.caption),
            ),
      ],
    );
  }
}
