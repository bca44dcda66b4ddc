import 'package:flutter/material.dart';

/// The server address the login screen starts with (its "advanced" field
/// can change it), set by the build:
/// `flutter build apk --dart-define=TTBOOST_SERVER=https://my.server:8443`.
/// Empty when the build names none: the streamer must then enter one.
const String kServerUrl = String.fromEnvironment('TTBOOST_SERVER');

/// Output format the core renders and the platform sink plays.
const int kSampleRate = 48000;
const int kChannels = 2;

/// How often the UI drains the core's event queue and refreshes stats.
const Duration kPollInterval = Duration(milliseconds: 100);
const Duration kStatsInterval = Duration(seconds: 1);

/// Lines in the Home screen's mini-log.
const int kLogLines = 5;

/// Android foreground service and its notification.
const String kServiceChannelId = 'ttboost_background';
const String kServiceChannelName = 'TTBoost в фоне';
const int kServiceNotificationId = 7401;
const String kServiceNotificationTitle = 'TTBoost';
const String kServiceNotificationText = 'TTBoost работает в фоне';

/// Notifications the app posts itself (connection lost, license problems).
const String kAlertsChannelId = 'ttboost_alerts';
const String kAlertsChannelName = 'TTBoost';
const int kAlertNotificationId = 7402;

/// Palette from the spec.
abstract final class AppColors {
  static const Color background = Color(0xFF0D0D12);
  static const Color violet = Color(0xFF8A2BE2);
  static const Color turquoise = Color(0xFF00E5FF);
  static const Color text = Color(0xFFFFFFFF);
  static const Color textSecondary = Color(0xFFBFBFBF);

  /// Derived: cards and fields on the dark background, status colours.
  static const Color surface = Color(0xFF1A1A24);
  static const Color outline = Color(0xFF2C2C3A);
  static const Color ok = turquoise;
  static const Color warning = Color(0xFFFFC542);
  static const Color error = Color(0xFFFF4D6D);

  static const LinearGradient brandGradient = LinearGradient(
    begin: Alignment.topLeft,
    end: Alignment.bottomRight,
    colors: [violet, turquoise],
  );

  /// Login background: dark, washed with violet at the top and turquoise at the bottom.
  static const LinearGradient backgroundGradient = LinearGradient(
    begin: Alignment.topCenter,
    end: Alignment.bottomCenter,
    colors: [Color(0xFF2A1245), background, Color(0xFF06343D)],
    stops: [0.0, 0.55, 1.0],
  );
}

/// Type scale from the spec: H1 28 bold, H2 22 semibold, body 16, caption 13 (Inter).
abstract final class AppText {
  static const String family = 'Inter';
  static const TextStyle h1 =
      TextStyle(fontFamily: family, fontSize: 28, fontWeight: FontWeight.w700, color: AppColors.text);
  static const TextStyle h2 =
      TextStyle(fontFamily: family, fontSize: 22, fontWeight: FontWeight.w600, color: AppColors.text);
  static const TextStyle body =
      TextStyle(fontFamily: family, fontSize: 16, fontWeight: FontWeight.w400, color: AppColors.text);
  static const TextStyle caption = TextStyle(
      fontFamily: family, fontSize: 13, fontWeight: FontWeight.w400, color: AppColors.textSecondary);
}

abstract final class Routes {
  static const String login = '/login';
  static const String home = '/home';
  static const String settings = '/settings';
}
