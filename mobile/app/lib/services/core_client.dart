import 'dart:ffi';
import 'dart:io';
import 'dart:isolate';
import 'dart:math';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';
import 'package:path_provider/path_provider.dart';

import '../ffi/native_library.dart';
import '../ffi/ttboost_bindings.dart';
import '../models/channel_settings.dart';
import '../models/live_event.dart';
import '../utils/constants.dart';
import 'secure_store.dart';

/// A failed call into the core: a TTB_ERR_* code and the core's message.
final class CoreException implements Exception {
  const CoreException(this.code, this.message);

  final int code;
  final String message;

  @override
  String toString() => 'CoreException($code): $message';
}

/// Owns the one native `ttb_client` of the process. Every other service is a
/// thin wrapper over [handle]. The client is created once per server address
/// and survives a restarted UI engine: the audio sink remembers it
/// (`ttb_sink_client`), and a new isolate adopts it instead of creating a
/// second one.
///
/// The ws token lives in the platform's secure storage ([SecureStore]), not
/// in the core's data directory: right after creating the client, [open]
/// hands the core the stored token with `ttb_client_set_token` (which also
/// makes the core stop using its session.conf); [login] reads the new one
/// with `ttb_client_get_token` and stores it; [forgetToken] deletes it.
final class CoreClient {
  CoreClient._(this.handle, this.dataDir, this.serverUrl, this._store);

  final Pointer<TtbClient> handle;
  final String dataDir;

  /// The server this client talks to ("" when none was set: no login works).
  final String serverUrl;
  final SecureStore _store;

  static TtbBindings get _b => NativeTtboost.instance.core;

  /// The server address to start with: the one last signed in to, else the
  /// build's (`--dart-define=TTBOOST_SERVER=...`), else "".
  static Future<String> initialServerUrl(SecureStore store) async => (await store.serverUrl()) ?? kServerUrl;

  /// Creates the client for [serverUrl] (or adopts the running one) and hands
  /// it the token kept for that server.
  static Future<CoreClient> open(SecureStore store, String serverUrl) async {
    final dir = await getApplicationSupportDirectory();
    final adopted = NativeTtboost.instance.sink.ttb_sink_client();
    if (adopted != nullptr) return CoreClient._(adopted, dir.path, serverUrl, store);

    final deviceId = await _deviceId(dir);
    // The core needs a syntactically valid URL; with none yet, a placeholder
    // on loopback that no login is ever sent to (the screen asks first).
    final url = serverUrl.isEmpty ? 'http://127.0.0.1' : serverUrl;
    final rc = using((arena) {
      final cfg = arena<TtbClientConfig>();
      cfg.ref
        ..server_url = url.toNativeUtf8(allocator: arena)
        ..data_dir = dir.path.toNativeUtf8(allocator: arena)
        ..device_id = deviceId.toNativeUtf8(allocator: arena)
        ..sample_rate = kSampleRate
        ..channels = kChannels;
      final out = arena<Pointer<TtbClient>>();
      final code = _b.ttb_client_create(cfg, out);
      return (code, out.value);
    });
    final (code, client) = rc;
    if (code != TTB_OK || client == nullptr) {
      throw CoreException(code, _b.ttb_strerror(code).toDartString());
    }
    final core = CoreClient._(client, dir.path, serverUrl, store);
    final token = serverUrl.isEmpty ? null : await store.token(serverUrl);
    final set = using((arena) => _b.ttb_client_set_token(client, (token ?? '').toNativeUtf8(allocator: arena)));
    if (set == TTB_ERR_INVALID) {
      await store.deleteToken(); // damaged: sign in again
      core.check(using((arena) => _b.ttb_client_set_token(client, ''.toNativeUtf8(allocator: arena))));
    } else {
      core.check(set);
    }
    return core;
  }

  /// Frees the native client (not started, sink stopped): before [open] for
  /// another server address.
  void close() => _b.ttb_client_destroy(handle);

  /// Deletes the stored token (logout, or the server refused it).
  Future<void> forgetToken() => _store.deleteToken();

  /// A random per-install id, kept beside the core's files.
  static Future<String> _deviceId(Directory dir) async {
    final f = File('${dir.path}/device_id');
    if (await f.exists()) {
      final id = (await f.readAsString()).trim();
      if (id.isNotEmpty) return id;
    }
    final rnd = Random.secure();
    final id = List.generate(16, (_) => rnd.nextInt(256).toRadixString(16).padLeft(2, '0')).join();
    await f.writeAsString(id, flush: true);
    return id;
  }

  String get lastError => _b.ttb_client_last_error(handle).toDartString();

  /// Throws [CoreException] unless [code] is TTB_OK.
  void check(int code) {
    if (code != TTB_OK) throw CoreException(code, lastError);
  }

  /// Runs the blocking login on a helper isolate so the UI keeps drawing.
  Future<void> login(String licenseKey) async {
    final address = handle.address;
    final (code, message) = await Isolate.run(() {
      final b = NativeTtboost.instance.core;
      final client = Pointer<TtbClient>.fromAddress(address);
      final key = licenseKey.toNativeUtf8();
      try {
        final rc = b.ttb_client_login(client, key);
        return (rc, rc == TTB_OK ? '' : b.ttb_client_last_error(client).toDartString());
      } finally {
        calloc.free(key);
      }
    });
    if (code != TTB_OK) throw CoreException(code, message);
    // The core holds the new token in memory only: keep it in secure storage.
    final token = using((arena) {
      final buf = arena<Uint8>(TTB_TOKEN_SIZE);
      final rc = _b.ttb_client_get_token(handle, buf.cast<Utf8>(), TTB_TOKEN_SIZE);
      return rc == TTB_OK ? buf.cast<Utf8>().toDartString() : null;
    });
    if (token == null) throw CoreException(TTB_ERR_STATE, lastError);
    await _store.saveToken(serverUrl, token);
    await _store.saveServerUrl(serverUrl);
  }

  /// The TikTok status the core keeps (from the socket or the last
  /// /me/tiktok answer). Non-blocking.
  TiktokStatus tiktokStatus() => using((arena) {
        final p = arena<TtbTiktokStatus>();
        _b.ttb_client_tiktok_status(handle, p);
        return TiktokStatus.fromNative(p.ref);
      });

  /// PUT /me/tiktok on a helper isolate (blocking HTTP in C). Throws
  /// [CoreException]; for TTB_ERR_INVALID its message is the server's own
  /// words about the handle.
  Future<TiktokStatus> setTiktok(String username) => _tiktok(username);

  /// GET /me/tiktok on a helper isolate.
  Future<TiktokStatus> fetchTiktok() => _tiktok(null);

  Future<TiktokStatus> _tiktok(String? username) async {
    final address = handle.address;
    final (code, message, status) = await Isolate.run(() {
      final b = NativeTtboost.instance.core;
      final client = Pointer<TtbClient>.fromAddress(address);
      return using((arena) {
        final out = arena<TtbTiktokStatus>();
        final rc = username == null
            ? b.ttb_client_get_tiktok(client, out)
            : b.ttb_client_set_tiktok(client, username.toNativeUtf8(allocator: arena), out);
        final msg = rc == TTB_OK ? '' : b.ttb_client_last_error(client).toDartString();
        return (rc, msg, TiktokStatus.fromNative(out.ref));
      });
    });
    if (code != TTB_OK) throw CoreException(code, message);
    return status;
  }

  // ------------------------------------------------------------ channel settings

  /// The channel settings the core holds (fetched after each connect, or the
  /// copy kept from last time while offline) and where they come from (a
  /// TTB_CHANNEL_* value). Non-blocking.
  (ChannelSettings, int) channelSettings() => using((arena) {
        final buf = arena<Uint8>(TTB_CHANNEL_JSON_MAX + 1);
        final len = arena<Size>();
        final source = arena<Int32>();
        final rc = _b.ttb_client_channel_settings_json(handle, buf.cast<Utf8>(), TTB_CHANNEL_JSON_MAX + 1, len, source);
        if (rc != TTB_OK) return (ChannelSettings.defaults, TTB_CHANNEL_DEFAULTS);
        return (ChannelSettings.fromJson(buf.cast<Utf8>().toDartString(length: len.value)), source.value);
      });

  /// GET /me/settings on a helper isolate; the new copy is then read with
  /// [channelSettings]. Throws [CoreException].
  Future<void> refreshChannelSettings() async {
    final address = handle.address;
    final (code, message) = await Isolate.run(() {
      final b = NativeTtboost.instance.core;
      final client = Pointer<TtbClient>.fromAddress(address);
      final rc = b.ttb_client_refresh_channel_settings(client);
      return (rc, rc == TTB_OK ? '' : b.ttb_client_last_error(client).toDartString());
    });
    if (code != TTB_OK) throw CoreException(code, message);
  }

  /// PUT /me/settings with [settings] on a helper isolate. Throws
  /// [CoreException]; for TTB_ERR_INVALID its message is the server's own
  /// words naming the field (or the schema's, when the core refused it).
  Future<ChannelSettings> saveChannelSettings(ChannelSettings settings) async {
    final address = handle.address;
    final json = settings.toJson();
    final (code, message) = await Isolate.run(() {
      final b = NativeTtboost.instance.core;
      final client = Pointer<TtbClient>.fromAddress(address);
      return using((arena) {
        final rc = b.ttb_client_set_channel_settings_json(client, json.toNativeUtf8(allocator: arena));
        return (rc, rc == TTB_OK ? '' : b.ttb_client_last_error(client).toDartString());
      });
    });
    if (code != TTB_OK) throw CoreException(code, message);
    return channelSettings().$1;
  }

  /// POST /me/sounds with a file's bytes (Ogg, WAV or MP3; the core tells
  /// which from the bytes) on a helper isolate: the new sound.
  Future<UserSound> uploadSound(String name, Uint8List bytes) async {
    final address = handle.address;
    final (code, message, answer) = await Isolate.run(() {
      final b = NativeTtboost.instance.core;
      final client = Pointer<TtbClient>.fromAddress(address);
      return using((arena) {
        final data = arena<Uint8>(bytes.isEmpty ? 1 : bytes.length);
        data.asTypedList(bytes.length).setAll(0, bytes);
        final out = arena<Uint8>(1024);
        final rc = b.ttb_client_upload_sound(client, name.isEmpty ? nullptr : name.toNativeUtf8(allocator: arena),
            nullptr, data, bytes.length, out.cast<Utf8>(), 1024);
        return (
          rc,
          rc == TTB_OK ? '' : b.ttb_client_last_error(client).toDartString(),
          rc == TTB_OK ? out.cast<Utf8>().toDartString() : '',
        );
      });
    });
    if (code != TTB_OK) throw CoreException(code, message);
    return UserSound.listFromJson('{"sounds":[$answer]}').first;
  }

  /// GET /me/sounds on a helper isolate.
  Future<List<UserSound>> listSounds() async {
    final address = handle.address;
    final (code, message, json) = await Isolate.run(() {
      final b = NativeTtboost.instance.core;
      final client = Pointer<TtbClient>.fromAddress(address);
      return using((arena) {
        const cap = 65536;
        final out = arena<Uint8>(cap);
        final len = arena<Size>();
        final rc = b.ttb_client_list_sounds_json(client, out.cast<Utf8>(), cap, len);
        return (
          rc,
          rc == TTB_OK ? '' : b.ttb_client_last_error(client).toDartString(),
          rc == TTB_OK ? out.cast<Utf8>().toDartString(length: len.value) : '',
        );
      });
    });
    if (code != TTB_OK) throw CoreException(code, message);
    return UserSound.listFromJson(json);
  }

  /// DELETE /me/sounds on a helper isolate.
  Future<void> deleteSound(String id) async {
    final address = handle.address;
    final (code, message) = await Isolate.run(() {
      final b = NativeTtboost.instance.core;
      final client = Pointer<TtbClient>.fromAddress(address);
      return using((arena) {
        final rc = b.ttb_client_delete_sound(client, id.toNativeUtf8(allocator: arena));
        return (rc, rc == TTB_OK ? '' : b.ttb_client_last_error(client).toDartString());
      });
    });
    if (code != TTB_OK) throw CoreException(code, message);
  }
}
