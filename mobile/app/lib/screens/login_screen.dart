import 'package:flutter/material.dart';
import 'package:provider/provider.dart';

import '../providers/auth_provider.dart';
import '../utils/constants.dart';
import '../utils/l10n.dart';
import '../widgets/gradient_background.dart';
import '../widgets/ttboost_logo.dart';

/// Logo, license key field and the violet "Войти" button on the gradient;
/// under "Advanced" the server address (default: the build's
/// --dart-define=TTBOOST_SERVER, or the server last signed in to).
class LoginScreen extends StatefulWidget {
  const LoginScreen({super.key});

  @override
  State<LoginScreen> createState() => _LoginScreenState();
}

class _LoginScreenState extends State<LoginScreen> {
  final _key = TextEditingController();
  final _server = TextEditingController();

  @override
  void initState() {
    super.initState();
    _server.text = context.read<AuthProvider>().serverUrl;
  }

  @override
  void dispose() {
    _key.dispose();
    _server.dispose();
    super.dispose();
  }

  void _submit() {
    FocusScope.of(context).unfocus();
    context.read<AuthProvider>().login(_key.text, serverUrl: _server.text);
  }

  @override
  Widget build(BuildContext context) {
    final auth = context.watch<AuthProvider>();
    final error = auth.error;
    return Scaffold(
      body: GradientBackground(
        child: SafeArea(
          child: Center(
            child: SingleChildScrollView(
              padding: const EdgeInsets.symmetric(horizontal: 28, vertical: 24),
              child: ConstrainedBox(
                constraints: const BoxConstraints(maxWidth: 420),
                child: Column(
                  crossAxisAlignment: CrossAxisAlignment.stretch,
                  children: [
                    const TtboostLogo(),
                    const SizedBox(height: 8),
                    Text(tr(context, Msg.loginSubtitle), style: AppText.caption, textAlign: TextAlign.center),
                    const SizedBox(height: 40),
                    TextField(
                      controller: _key,
                      enabled: !auth.isBusy,
                      autocorrect: false,
                      enableSuggestions: false,
                      textInputAction: TextInputAction.go,
                      onSubmitted: (_) => _submit(),
                      style: AppText.body,
                      decoration: InputDecoration(
                        labelText: tr(context, Msg.loginKeyLabel),
                        hintText: tr(context, Msg.loginHint),
                        prefixIcon: const Icon(Icons.vpn_key_rounded, color: AppColors.textSecondary),
                      ),
                    ),
                    Theme(
                      data: Theme.of(context).copyWith(dividerColor: Colors.transparent),
                      child: ExpansionTile(
                        // Open by itself when the build named no server.
                        initiallyExpanded: _server.text.isEmpty,
                        tilePadding: EdgeInsets.zero,
                        title: Text(tr(context, Msg.loginAdvanced), style: AppText.caption),
                        children: [
                          TextField(
                            controller: _server,
                            enabled: !auth.isBusy,
                            autocorrect: false,
                            enableSuggestions: false,
                            keyboardType: TextInputType.url,
                            style: AppText.body,
                            decoration: InputDecoration(
                              labelText: tr(context, Msg.loginServerLabel),
                              hintText: tr(context, Msg.loginServerHint),
                              prefixIcon: const Icon(Icons.dns_rounded, color: AppColors.textSecondary),
                            ),
                          ),
                        ],
                      ),
                    ),
                    if (error != null) ...[
                      const SizedBox(height: 12),
                      Text(tr(context, error), style: AppText.caption.copyWith(color: AppColors.error)),
                    ],
                    const SizedBox(height: 24),
                    ElevatedButton(
                      onPressed: auth.isBusy ? null : _submit,
                      child: auth.status == AuthStatus.signingIn
                          ? const SizedBox(
                              width: 22,
                              height: 22,
                              child: CircularProgressIndicator(strokeWidth: 2.5, color: AppColors.text),
                            )
                          : Text(tr(context, Msg.loginButton)),
                    ),
                  ],
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }
}
