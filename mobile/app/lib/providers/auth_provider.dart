import 'package:flutter/foundation.dart';

import '../ffi/ttboost_bindings.dart';
import '../services/api_service.dart';
import '../services/core_client.dart';
import '../services/secure_store.dart';
import '../utils/l10n.dart';

enum AuthStatus { starting, signedOut, signingIn, signedIn, failed }

/// Sign-in state: whether the core holds a ws token, the server address, and
/// why the last attempt failed (as a [Msg] the screens translate).
class AuthProvider extends ChangeNotifier {
  AuthProvider([SecureStore? store]) : _store = store ?? SecureStore();

  final SecureStore _store;
  AuthStatus _status = AuthStatus.starting;
  Msg? _error;
  CoreClient? _core;
  ApiService? _api;
  String _serverUrl = '';

  AuthStatus get status => _status;
  bool get isSignedIn => _status == AuthStatus.signedIn;
  bool get isBusy => _status == AuthStatus.signingIn || _status == AuthStatus.starting;

  /// Why the last sign-in failed or why the session ended; null when fine.
  Msg? get error => _error;

  /// The native client, once [init] has finished.
  CoreClient? get core => _core;

  /// The server address the login screen shows in its "advanced" field.
  String get serverUrl => _serverUrl;

  Future<void> init() async {
    try {
      _serverUrl = await CoreClient.initialServerUrl(_store);
      await _open(_serverUrl);
      _status = _api!.hasToken ? AuthStatus.signedIn : AuthStatus.signedOut;
    } on CoreException catch (e) {
      _status = AuthStatus.failed;
      _error = errorMessage(e.code);
    }
    notifyListeners();
  }

  Future<void> _open(String serverUrl) async {
    final core = await CoreClient.open(_store, serverUrl);
    _core = core;
    _api = ApiService(core);
  }

  /// "http(s)://host[:port]", nothing after it: what the core accepts.
  static bool isServerUrl(String s) {
    final u = Uri.tryParse(s);
    return u != null &&
        (u.scheme == 'https' || u.scheme == 'http') &&
        u.host.isNotEmpty &&
        (u.path.isEmpty || u.path == '/') &&
        !u.hasQuery &&
        !u.hasFragment &&
        u.userInfo.isEmpty;
  }

  Future<void> login(String key, {String? serverUrl}) async {
    if (_api == null || isBusy) return;
    var url = (serverUrl ?? _serverUrl).trim();
    if (url.endsWith('/')) url = url.substring(0, url.length - 1);
    if (key.trim().isEmpty) {
      _error = Msg.errEmptyKey;
      notifyListeners();
      return;
    }
    if (!isServerUrl(url)) {
      _error = Msg.errServerUrl;
      notifyListeners();
      return;
    }
    _status = AuthStatus.signingIn;
    _error = null;
    notifyListeners();
    try {
      if (url != _core?.serverUrl) {
        // Another server: a new native client for it (signed out, not started).
        _core?.close();
        _core = null;
        await _open(url);
        _serverUrl = url;
      }
      await _api!.login(key);
      _status = AuthStatus.signedIn;
    } on CoreException catch (e) {
      _status = AuthStatus.signedOut;
      _error = errorMessage(e.code);
    }
    notifyListeners();
  }

  /// The user pressed "sign out": the audio provider has stopped the session.
  Future<void> logout() async {
    try {
      await _api?.logout();
    } on CoreException catch (e) {
      debugPrint('logout: $e');
    }
    _status = AuthStatus.signedOut;
    _error = null;
    notifyListeners();
  }

  /// The server refused the token while connected (expired, revoked, …):
  /// the core has dropped it and so does secure storage; go back to the
  /// login screen and say why.
  void sessionEnded(int code) {
    _api?.forgetToken();
    _status = AuthStatus.signedOut;
    _error = errorMessage(code == TTB_OK ? TTB_ERR_AUTH : code);
    notifyListeners();
  }
}
