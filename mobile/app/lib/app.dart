import 'package:flutter/material.dart';
import 'package:flutter_localizations/flutter_localizations.dart';
import 'package:provider/provider.dart';

import 'providers/auth_provider.dart';
import 'screens/home_screen.dart';
import 'screens/login_screen.dart';
import 'screens/settings_screen.dart';
import 'utils/constants.dart';
import 'utils/l10n.dart';
import 'utils/theme.dart';

class TtboostApp extends StatelessWidget {
  const TtboostApp({super.key});

  @override
  Widget build(BuildContext context) {
    return MaterialApp(
      title: 'TTBoost',
      debugShowCheckedModeBanner: false,
      theme: buildTheme(),
      supportedLocales: supportedLocales,
      localizationsDelegates: const [
        GlobalMaterialLocalizations.delegate,
        GlobalWidgetsLocalizations.delegate,
        GlobalCupertinoLocalizations.delegate,
      ],
      home: const _Gate(),
      routes: {
        Routes.login: (_) => const LoginScreen(),
        Routes.home: (_) => const HomeScreen(),
        Routes.settings: (_) => const SettingsScreen(),
      },
    );
  }
}

/// Shows Login or Home from the sign-in state (a splash while the core opens).
class _Gate extends StatelessWidget {
  const _Gate();

  @override
  Widget build(BuildContext context) {
    final auth = context.watch<AuthProvider>();
    return switch (auth.status) {
      AuthStatus.starting => const Scaffold(body: Center(child: CircularProgressIndicator())),
      AuthStatus.signedIn => const HomeScreen(),
      AuthStatus.failed => Scaffold(
          body: Center(
            child: Padding(
              padding: const EdgeInsets.all(32),
              child: Text(tr(context, auth.error ?? Msg.errUnknown), style: AppText.body, textAlign: TextAlign.center),
            ),
          ),
        ),
      AuthStatus.signedOut || AuthStatus.signingIn => const LoginScreen(),
    };
  }
}
