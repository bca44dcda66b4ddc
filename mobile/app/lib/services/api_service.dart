import '../ffi/native_library.dart';
import '../models/live_event.dart';
import 'core_client.dart';

/// The HTTP side of the server (POST /auth/login, GET/PUT /me/tiktok), done
/// by the core. The token is kept in the platform's secure storage
/// (CoreClient, SecureStore), never in a plain file.
final class ApiService {
  ApiService(this._core);

  final CoreClient _core;

  /// Signs in with a license key; throws [CoreException] with a TTB_ERR_* code.
  Future<void> login(String licenseKey) => _core.login(licenseKey.trim());

  bool get hasToken => NativeTtboost.instance.core.ttb_client_has_token(_core.handle);

  /// Sets the license's TikTok @username on the server ("" clears it); the
  /// server then listens to that LIVE. Throws [CoreException] (TTB_ERR_INVALID
  /// with the server's message when it refuses the handle).
  Future<TiktokStatus> setTiktok(String username) => _core.setTiktok(username.trim());

  /// The handle and TikTok state the server has now.
  Future<TiktokStatus> fetchTiktok() => _core.fetchTiktok();

  /// Stops the connection and forgets the token, in the core and in secure
  /// storage (settings stay).
  Future<void> logout() async {
    _core.check(NativeTtboost.instance.core.ttb_client_logout(_core.handle));
    await _core.forgetToken();
  }

  /// The server refused the token: the core has dropped it; so does the app.
  Future<void> forgetToken() => _core.forgetToken();
}
