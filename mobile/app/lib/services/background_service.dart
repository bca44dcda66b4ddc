import 'dart:async';
import 'dart:io' show Platform;
import 'dart:ui' show DartPluginRegistrant;

import 'package:flutter/widgets.dart';
import 'package:flutter_background_service/flutter_background_service.dart';
import 'package:flutter_local_notifications/flutter_local_notifications.dart';
import 'package:permission_handler/permission_handler.dart';

import '../utils/constants.dart';

/// Keeps the process alive while TikTok is on top.
///
/// Android: a foreground service of type mediaPlayback (flutter_background_service)
/// with the ongoing notification «TTBoost работает в фоне». The native client,
/// its network thread and the AAudio sink live in the process, not in a Dart
/// isolate, so the service isolate itself only keeps the notification.
/// iOS: the `audio` background mode plus an active AVAudioSession (set up in
/// AppDelegate.swift) and a running AudioQueue keep the app alive; no service.
final class BackgroundService {
  BackgroundService._();

  static final BackgroundService instance = BackgroundService._();

  final FlutterLocalNotificationsPlugin _notifications = FlutterLocalNotificationsPlugin();
  bool _configured = false;

  Future<void> configure() async {
    if (_configured) return;
    _configured = true;
    await _notifications.initialize(const InitializationSettings(
      android: AndroidInitializationSettings('@mipmap/ic_launcher'),
      iOS: DarwinInitializationSettings(
        requestAlertPermission: false,
        requestBadgePermission: false,
        requestSoundPermission: false,
      ),
    ));
    if (!Platform.isAndroid) return;
    final android =
        _notifications.resolvePlatformSpecificImplementation<AndroidFlutterLocalNotificationsPlugin>();
    await android?.createNotificationChannel(const AndroidNotificationChannel(
      kServiceChannelId,
      kServiceChannelName,
      description: kServiceNotificationText,
      importance: Importance.low, // silent, no heads-up: it only has to exist
      playSound: false,
      enableVibration: false,
      showBadge: false,
    ));
    await android?.createNotificationChannel(const AndroidNotificationChannel(
      kAlertsChannelId,
      kAlertsChannelName,
      importance: Importance.defaultImportance,
    ));
    await FlutterBackgroundService().configure(
      androidConfiguration: AndroidConfiguration(
        onStart: backgroundServiceMain,
        autoStart: false,
        autoStartOnBoot: false,
        isForegroundMode: true,
        notificationChannelId: kServiceChannelId,
        initialNotificationTitle: kServiceNotificationTitle,
        initialNotificationContent: kServiceNotificationText,
        foregroundServiceNotificationId: kServiceNotificationId,
        foregroundServiceTypes: [AndroidForegroundType.mediaPlayback],
      ),
      iosConfiguration: IosConfiguration(autoStart: false),
    );
  }

  /// Android 13+: the foreground notification needs POST_NOTIFICATIONS.
  /// Returns false when the user refused (the service still runs, but hidden).
  Future<bool> requestNotificationPermission() async {
    final status = await Permission.notification.request();
    return status.isGranted || status.isLimited;
  }

  /// Started when the client connects.
  Future<void> start() async {
    if (!Platform.isAndroid) return;
    final service = FlutterBackgroundService();
    if (!await service.isRunning()) await service.startService();
  }

  /// Stopped on logout (and when the user switches background mode off).
  Future<void> stop() async {
    if (!Platform.isAndroid) return;
    FlutterBackgroundService().invoke('stop');
  }

  Future<bool> isRunning() async => Platform.isAndroid ? FlutterBackgroundService().isRunning() : true;

  /// A short alert (connection lost, license problem) when notifications are on.
  Future<void> alert(String title, String body) => _notifications.show(
        kAlertNotificationId,
        title,
        body,
        const NotificationDetails(
          android: AndroidNotificationDetails(kAlertsChannelId, kAlertsChannelName),
          iOS: DarwinNotificationDetails(),
        ),
      );
}

/// Entry point of the Android service isolate. It owns nothing but the
/// foreground notification; the work happens in native threads.
@pragma('vm:entry-point')
void backgroundServiceMain(ServiceInstance service) {
  WidgetsFlutterBinding.ensureInitialized();
  DartPluginRegistrant.ensureInitialized();
  if (service is AndroidServiceInstance) {
    service.setAsForegroundService();
    service.setForegroundNotificationInfo(title: kServiceNotificationTitle, content: kServiceNotificationText);
  }
  late final StreamSubscription<Map<String, dynamic>?> sub;
  sub = service.on('stop').listen((_) {
    sub.cancel();
    service.stopSelf();
  });
}
