import 'package:flutter/material.dart';
import 'package:provider/provider.dart';

import 'app.dart';
import 'providers/audio_provider.dart';
import 'providers/auth_provider.dart';
import 'services/background_service.dart';

Future<void> main() async {
  WidgetsFlutterBinding.ensureInitialized();
  await BackgroundService.instance.configure();
  final auth = AuthProvider();
  runApp(
    MultiProvider(
      providers: [
        ChangeNotifierProvider<AuthProvider>.value(value: auth),
        ChangeNotifierProxyProvider<AuthProvider, AudioProvider>(
          create: (_) => AudioProvider(BackgroundService.instance),
          update: (_, auth, audio) => audio!..attach(auth),
        ),
      ],
      child: const TtboostApp(),
    ),
  );
  await auth.init();
}
