// Pure-Dart tests (no native library needed): `flutter test`.
import 'package:flutter_test/flutter_test.dart';
import 'package:ttboost/ffi/ttboost_bindings.dart';
import 'package:ttboost/services/ws_service.dart';
import 'package:ttboost/utils/l10n.dart';

void main() {
  test('every message exists in Russian and English', () {
    for (final m in Msg.values) {
      expect(trFor('ru', m), isNotEmpty, reason: 'ru $m');
      expect(trFor('en', m), isNotEmpty, reason: 'en $m');
    }
  });

  test('unknown locales fall back to English', () {
    expect(trFor('de', Msg.loginButton), trFor('en', Msg.loginButton));
    expect(trFor('ru', Msg.loginButton), 'Войти');
  });

  test('licence and network errors get their own words', () {
    expect(errorMessage(TTB_ERR_AUTH), Msg.errWrongKey);
    expect(errorMessage(TTB_ERR_NETWORK), Msg.errNoNetwork);
    expect(errorMessage(TTB_ERR_EXPIRED), Msg.errExpired);
    expect(errorMessage(TTB_ERR_REVOKED), Msg.errRevoked);
    expect(errorMessage(TTB_ERR_DEVICE_LIMIT), Msg.errDeviceLimit);
    expect(errorMessage(TTB_ERR_RATE_LIMITED), Msg.errTooManyAttempts);
    expect(errorMessage(-99), Msg.errUnknown);
    expect(isLicenseError(TTB_ERR_EXPIRED), isTrue);
    expect(isLicenseError(TTB_ERR_NETWORK), isFalse);
  });

  test('connection states map from ttb_conn_state', () {
    expect(ConnState.fromNative(TTB_STATE_CONNECTED), ConnState.connected);
    expect(ConnState.fromNative(TTB_STATE_RECONNECTING), ConnState.reconnecting);
    expect(ConnState.fromNative(42), ConnState.disconnected);
  });
}
