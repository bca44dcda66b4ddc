import 'package:flutter_secure_storage/flutter_secure_storage.dart';

/// What the app keeps between launches, in the platform's secure storage
/// (Android: EncryptedSharedPreferences with a Keystore key; iOS: the
/// Keychain, this device only): the core's ws token — never a plain file; the
/// core's own session.conf is not used (`ttb_client_set_token`) — and the
/// server address chosen at login. The token is kept together with the
/// server it belongs to: a token of another server is never handed over.
final class SecureStore {
  SecureStore([FlutterSecureStorage? storage])
      : _s = storage ??
            const FlutterSecureStorage(
              aOptions: AndroidOptions(encryptedSharedPreferences: true),
              iOptions: IOSOptions(accessibility: KeychainAccessibility.first_unlock_this_device),
            );

  final FlutterSecureStorage _s;

  static const _kToken = 'ws_token';
  static const _kTokenServer = 'ws_token_server';
  static const _kServer = 'server_url';

  /// The stored token for [serverUrl], or null.
  Future<String?> token(String serverUrl) async {
    final server = await _s.read(key: _kTokenServer);
    if (server != serverUrl) return null;
    return _s.read(key: _kToken);
  }

  Future<void> saveToken(String serverUrl, String token) async {
    await _s.write(key: _kToken, value: token);
    await _s.write(key: _kTokenServer, value: serverUrl);
  }

  Future<void> deleteToken() async {
    await _s.delete(key: _kToken);
    await _s.delete(key: _kTokenServer);
  }

  /// The server address last used to sign in, or null.
  Future<String?> serverUrl() => _s.read(key: _kServer);

  Future<void> saveServerUrl(String url) => _s.write(key: _kServer, value: url);
}
