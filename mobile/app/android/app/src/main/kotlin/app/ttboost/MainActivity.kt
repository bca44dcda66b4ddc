package app.ttboost

import io.flutter.embedding.android.FlutterActivity

// The Dart side talks to the native core through dart:ffi; the activity needs
// nothing beyond Flutter's default. libttboost_client.so is loaded by
// DynamicLibrary.open() in lib/ffi/native_library.dart.
class MainActivity : FlutterActivity()
