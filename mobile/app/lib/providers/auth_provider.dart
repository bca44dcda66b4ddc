import 'package:flutter/foundation.dart';

import '../ffi/ttboost_bindings.dart';
import '../services/api_service.dart';
import '../services/core_client.dart';
import '../utils/l10n.dart';

enum AuthStatus { starting, signedOut, signingIn, signedIn, failed }

/// Sign-in state: whether the core holds a ws token, and why the last
/// attempt failed (as a [Msg] the screens translate).
class AuthProvider extends ChangeNotifier {
  AuthStatus _status = AuthStatus.starting;
  Msg? _error;
  CoreClient? _core;
  ApiService? _api;

  AuthStatus get status => _status;
  bool get isSignedIn => _status == AuthStatus.signedIn;
  bool get isBusy => _status == AuthStatus.signingIn || _status == AuthStatus.starting;

  /// Why the last sign-in failed or why the session ended; null when fine.
  Msg? get error => _error;

  /// The native client, once [init] has finished.
  CoreClient? get core => _core;

  Future<void> init() async {
    try {
      final core = await CoreClient.open();
      _core = core;
      _api = ApiService(core);
      _status = _api!.hasToken ? AuthStatus.signedIn : AuthStatus.signedOut;
    } on CoreException catch (e) {
      _status = AuthStatus.failed;
      _error = errorMessage(e.code);
    }
    notifyListeners();
  }

  Future<void> login(String key) async {
    final api = _api;
    if (api == null || isBusy) return;
    if (key.trim().isEmpty) {
      _error = Msg.errEmptyKey;
      notifyListeners();
      return;
    }
    _status = AuthStatus.signingIn;
    _error = null;
    notifyListeners();
    try {
      await api.login(key);
      _status = AuthStatus.signedIn;
    } on CoreException catch (e) {
      _status = AuthStatus.signedOut;
      _error = errorMessage(e.code);
    }
    notifyListeners();
  }

  /// The user pressed "sign out": the audio provider has stopped the session.
  void logout() {
    try {
      _api?.logout();
    } on CoreException catch (e) {
      debugPrint('logout: $e');
    }
    _status = AuthStatus.signedOut;
    _error = null;
    notifyListeners();
  }

  /// The server refused the token while connected (expired, revoked, …):
  /// the core has dropped it, so go back to the login screen and say why.
  void sessionEnded(int code) {
    _status = AuthStatus.signedOut;
    _error = errorMessage(code == TTB_OK ? TTB_ERR_AUTH : code);
    notifyListeners();
  }
}
