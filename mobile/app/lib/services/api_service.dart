import '../ffi/native_library.dart';
import 'core_client.dart';

/// The HTTP side of the server (POST /auth/login), done by the core.
/// The token is stored by the core in its data directory.
final class ApiService {
  ApiService(this._core);

  final CoreClient _core;

  /// Signs in with a license key; throws [CoreException] with a TTB_ERR_* code.
  Future<void> login(String licenseKey) => _core.login(licenseKey.trim());

  bool get hasToken => NativeTtboost.instance.core.ttb_client_has_token(_core.handle);

  /// Stops the connection and forgets the token (settings stay).
  void logout() => _core.check(NativeTtboost.instance.core.ttb_client_logout(_core.handle));
}
