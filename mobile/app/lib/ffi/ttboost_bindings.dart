// Hand-written dart:ffi bindings to mobile/core/include/ttboost/client.h.
//
// Names follow the header exactly: C constants keep their names, C structs
// `ttb_x` become `TtbX`, struct fields keep their C names, and every function
// is looked up under its C name. `tool/check_ffi.mjs` parses both this file
// and the header and fails CI on any difference (types, order, array sizes,
// constants), so edit them together.
//
// ignore_for_file: non_constant_identifier_names, constant_identifier_names, camel_case_types

import 'dart:ffi';

import 'package:ffi/ffi.dart';

// --- #define constants ------------------------------------------------------
const int TTB_CLIENT_API_VERSION = 4;
const int TTB_EVENT_USER_SIZE = 129;
const int TTB_EVENT_TEXT_SIZE = 1025;
const int TTB_DEFAULT_SAMPLE_RATE = 48000;
const int TTB_DEFAULT_CHANNELS = 2;
const int TTB_TIKTOK_USERNAME_SIZE = 33;
const int TTB_TIKTOK_ROOM_ID_SIZE = 25;
const int TTB_TIKTOK_MESSAGE_SIZE = 257;
const int TTB_TOKEN_SIZE = 129;
const int TTB_CHANNEL_JSON_MAX = 98304;
const int TTB_SOUND_UPLOAD_MAX = 2097152;

// --- error codes --------------------------------------------------------------
const int TTB_OK = 0;
const int TTB_ERR_INVALID = -1;
const int TTB_ERR_NOMEM = -2;
const int TTB_ERR_IO = -3;
const int TTB_ERR_NETWORK = -4;
const int TTB_ERR_PROTOCOL = -5;
const int TTB_ERR_AUTH = -6;
const int TTB_ERR_EXPIRED = -7;
const int TTB_ERR_REVOKED = -8;
const int TTB_ERR_RATE_LIMITED = -9;
const int TTB_ERR_DEVICE_LIMIT = -10;
const int TTB_ERR_STATE = -11;
const int TTB_ERR_CORRUPT = -12;

// --- ttb_conn_state -----------------------------------------------------------
const int TTB_STATE_DISCONNECTED = 0;
const int TTB_STATE_CONNECTING = 1;
const int TTB_STATE_CONNECTED = 2;
const int TTB_STATE_RECONNECTING = 3;

// --- ttb_event_kind -----------------------------------------------------------
const int TTB_EVENT_CHAT = 1;
const int TTB_EVENT_GIFT = 2;
const int TTB_EVENT_STATE = 3;
const int TTB_EVENT_ERROR = 4;
const int TTB_EVENT_TIKTOK = 5;
const int TTB_EVENT_MISSED = 6;
const int TTB_EVENT_CHANNEL = 7;

// --- ttb_channel_source -------------------------------------------------------
const int TTB_CHANNEL_DEFAULTS = 0;
const int TTB_CHANNEL_SAVED = 1;
const int TTB_CHANNEL_SERVER = 2;

// --- ttb_tiktok_state ---------------------------------------------------------
const int TTB_TIKTOK_UNKNOWN = 0;
const int TTB_TIKTOK_OFF = 1;
const int TTB_TIKTOK_WAITING = 2;
const int TTB_TIKTOK_CONNECTING = 3;
const int TTB_TIKTOK_LIVE = 4;
const int TTB_TIKTOK_ENDED = 5;
const int TTB_TIKTOK_ERROR = 6;

// --- types ----------------------------------------------------------------------

/// `ttb_client` — opaque handle.
final class TtbClient extends Opaque {}

/// `ttb_client_config`
final class TtbClientConfig extends Struct {
  external Pointer<Utf8> server_url;
  external Pointer<Utf8> data_dir;
  external Pointer<Utf8> device_id;
  @Uint32()
  external int sample_rate;
  @Uint32()
  external int channels;
}

/// `ttb_settings`
final class TtbSettings extends Struct {
  @Bool()
  external bool tts_enabled;
  @Float()
  external double tts_volume;
  @Bool()
  external bool gifts_enabled;
  @Float()
  external double gifts_volume;
  @Bool()
  external bool profanity_filter;
  @Bool()
  external bool notifications;
  @Bool()
  external bool auto_start_tts;
  @Bool()
  external bool binary_mode;
}

/// `ttb_stats`
final class TtbStats extends Struct {
  @Uint64()
  external int chat_messages;
  @Uint64()
  external int gifts;
  @Uint64()
  external int gift_count;
  @Uint64()
  external int played;
  @Uint64()
  external int skipped;
  @Uint64()
  external int filtered;
  @Uint64()
  external int reconnects;
  @Uint64()
  external int uptime_ms;
}

/// `ttb_event` (1184 bytes on every 32/64-bit ABI the app targets).
final class TtbEvent extends Struct {
  @Int32()
  external int kind;
  @Uint64()
  external int seq;
  @Int64()
  external int time_ms;
  @Uint32()
  external int count;
  @Bool()
  external bool filtered;
  @Array(129)
  external Array<Uint8> user;
  @Array(1025)
  external Array<Uint8> text;
}

/// `ttb_tiktok_status` (320 bytes: int32 + 33 + 25 + 257 chars, padded to 4).
final class TtbTiktokStatus extends Struct {
  @Int32()
  external int state;
  @Array(33)
  external Array<Uint8> username;
  @Array(25)
  external Array<Uint8> room_id;
  @Array(257)
  external Array<Uint8> message;
}

// --- functions --------------------------------------------------------------------

/// All functions of client.h, resolved once from [lib].
final class TtbBindings {
  TtbBindings(this.lib);

  final DynamicLibrary lib;

  late final ttb_strerror =
      lib.lookupFunction<Pointer<Utf8> Function(Int32 code), Pointer<Utf8> Function(int code)>(
          'ttb_strerror');

  late final ttb_client_create = lib.lookupFunction<
      Int32 Function(Pointer<TtbClientConfig> cfg, Pointer<Pointer<TtbClient>> out),
      int Function(Pointer<TtbClientConfig> cfg, Pointer<Pointer<TtbClient>> out)>('ttb_client_create');

  late final ttb_client_destroy =
      lib.lookupFunction<Void Function(Pointer<TtbClient> c), void Function(Pointer<TtbClient> c)>(
          'ttb_client_destroy');

  late final ttb_client_last_error = lib.lookupFunction<Pointer<Utf8> Function(Pointer<TtbClient> c),
      Pointer<Utf8> Function(Pointer<TtbClient> c)>('ttb_client_last_error');

  late final ttb_client_login = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> license_key),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> license_key)>('ttb_client_login');

  late final ttb_client_has_token =
      lib.lookupFunction<Bool Function(Pointer<TtbClient> c), bool Function(Pointer<TtbClient> c)>(
          'ttb_client_has_token');

  late final ttb_client_logout =
      lib.lookupFunction<Int32 Function(Pointer<TtbClient> c), int Function(Pointer<TtbClient> c)>(
          'ttb_client_logout');

  late final ttb_client_set_token = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> token),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> token)>('ttb_client_set_token');

  late final ttb_client_get_token = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> out, Size cap),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> out, int cap)>('ttb_client_get_token');

  late final ttb_client_start =
      lib.lookupFunction<Int32 Function(Pointer<TtbClient> c), int Function(Pointer<TtbClient> c)>(
          'ttb_client_start');

  late final ttb_client_stop =
      lib.lookupFunction<Int32 Function(Pointer<TtbClient> c), int Function(Pointer<TtbClient> c)>(
          'ttb_client_stop');

  late final ttb_client_reconnect_now =
      lib.lookupFunction<Int32 Function(Pointer<TtbClient> c), int Function(Pointer<TtbClient> c)>(
          'ttb_client_reconnect_now');

  late final ttb_client_state = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> last_error, Size last_error_len),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> last_error, int last_error_len)>('ttb_client_state');

  late final ttb_client_get_settings = lib.lookupFunction<
      Void Function(Pointer<TtbClient> c, Pointer<TtbSettings> out),
      void Function(Pointer<TtbClient> c, Pointer<TtbSettings> out)>('ttb_client_get_settings');

  late final ttb_client_set_settings = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<TtbSettings> s),
      int Function(Pointer<TtbClient> c, Pointer<TtbSettings> s)>('ttb_client_set_settings');

  late final ttb_client_get_stats = lib.lookupFunction<
      Void Function(Pointer<TtbClient> c, Pointer<TtbStats> out),
      void Function(Pointer<TtbClient> c, Pointer<TtbStats> out)>('ttb_client_get_stats');

  late final ttb_client_poll_event = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<TtbEvent> out),
      int Function(Pointer<TtbClient> c, Pointer<TtbEvent> out)>('ttb_client_poll_event');

  late final ttb_client_recent_events = lib.lookupFunction<
      Size Function(Pointer<TtbClient> c, Pointer<TtbEvent> out, Size max),
      int Function(Pointer<TtbClient> c, Pointer<TtbEvent> out, int max)>('ttb_client_recent_events');

  late final ttb_tiktok_state_name =
      lib.lookupFunction<Pointer<Utf8> Function(Int32 state), Pointer<Utf8> Function(int state)>(
          'ttb_tiktok_state_name');

  late final ttb_client_tiktok_status = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<TtbTiktokStatus> out),
      int Function(Pointer<TtbClient> c, Pointer<TtbTiktokStatus> out)>('ttb_client_tiktok_status');

  late final ttb_client_set_tiktok = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> username, Pointer<TtbTiktokStatus> out),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> username, Pointer<TtbTiktokStatus> out)>(
      'ttb_client_set_tiktok');

  late final ttb_client_get_tiktok = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<TtbTiktokStatus> out),
      int Function(Pointer<TtbClient> c, Pointer<TtbTiktokStatus> out)>('ttb_client_get_tiktok');

  late final ttb_client_channel_settings_json = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> out, Size cap, Pointer<Size> len, Pointer<Int32> source),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> out, int cap, Pointer<Size> len, Pointer<Int32> source)>(
      'ttb_client_channel_settings_json');

  late final ttb_client_refresh_channel_settings =
      lib.lookupFunction<Int32 Function(Pointer<TtbClient> c), int Function(Pointer<TtbClient> c)>(
          'ttb_client_refresh_channel_settings');

  late final ttb_client_set_channel_settings_json = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> json),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> json)>('ttb_client_set_channel_settings_json');

  late final ttb_client_upload_sound = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> name, Pointer<Utf8> content_type, Pointer<Uint8> data,
          Size len, Pointer<Utf8> out, Size cap),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> name, Pointer<Utf8> content_type, Pointer<Uint8> data,
          int len, Pointer<Utf8> out, int cap)>('ttb_client_upload_sound');

  late final ttb_client_list_sounds_json = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> out, Size cap, Pointer<Size> len),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> out, int cap, Pointer<Size> len)>('ttb_client_list_sounds_json');

  late final ttb_client_delete_sound = lib.lookupFunction<
      Int32 Function(Pointer<TtbClient> c, Pointer<Utf8> id),
      int Function(Pointer<TtbClient> c, Pointer<Utf8> id)>('ttb_client_delete_sound');

  late final ttb_client_render = lib.lookupFunction<
      Size Function(Pointer<TtbClient> c, Pointer<Int16> pcm, Size frames),
      int Function(Pointer<TtbClient> c, Pointer<Int16> pcm, int frames)>('ttb_client_render');
}
