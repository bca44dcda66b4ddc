// Hand-written dart:ffi bindings to the platform audio sink,
// mobile/core/platform/{android,ios}/ttb_sink.h (same prototypes on both).
// Checked against both headers by tool/check_ffi.mjs.
//
// ignore_for_file: non_constant_identifier_names

import 'dart:ffi';

import 'ttboost_bindings.dart';

final class TtbSinkBindings {
  TtbSinkBindings(this.lib);

  final DynamicLibrary lib;

  late final ttb_sink_start = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Uint32 sample_rate, Uint32 channels),
      int Function(Pointer<TtbClient> c, int sample_rate, int channels)>('ttb_sink_start');

  late final ttb_sink_stop = lib.lookupFunction<Void Function(), void Function()>('ttb_sink_stop');

  late final ttb_sink_pause = lib.lookupFunction<Int32 Function(), int Function()>('ttb_sink_pause');

  late final ttb_sink_resume = lib.lookupFunction<Int32 Function(), int Function()>('ttb_sink_resume');

  late final ttb_sink_is_running =
      lib.lookupFunction<Bool Function(), bool Function()>('ttb_sink_is_running');

  late final ttb_sink_client =
      lib.lookupFunction<Pointer<TtbClient> Function(), Pointer<TtbClient> Function()>('ttb_sink_client');
}
