import 'dart:ffi';
import 'dart:io' show Platform;

import 'sink_bindings.dart';
import 'ttboost_bindings.dart';

/// Where libttboost-client lives on each platform.
///
/// Android: `libttboost_client.so`, built by android/app/src/main/cpp/CMakeLists.txt
/// and packed into the APK. iOS: linked statically into the Runner executable
/// (ios/ttboost_core.podspec), so its symbols are found in the process.
DynamicLibrary openTtboostLibrary() {
  if (Platform.isAndroid) return DynamicLibrary.open('libttboost_client.so');
  if (Platform.isIOS || Platform.isMacOS) return DynamicLibrary.process();
  if (Platform.isLinux) return DynamicLibrary.open('libttboost-client.so');
  throw UnsupportedError('TTBoost runs on Android and iOS');
}

/// The process-wide bindings (one library, opened lazily on first use).
final class NativeTtboost {
  NativeTtboost._(DynamicLibrary lib)
      : core = TtbBindings(lib),
        sink = TtbSinkBindings(lib);

  static NativeTtboost? _instance;
  static NativeTtboost get instance => _instance ??= NativeTtboost._(openTtboostLibrary());

  final TtbBindings core;
  final TtbSinkBindings sink;
}
