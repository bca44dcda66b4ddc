// Pure-Dart tests (no native library needed): `flutter test`.
import 'package:flutter_test/flutter_test.dart';
import 'package:ttboost/ffi/ttboost_bindings.dart';
import 'package:ttboost/models/live_event.dart';
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

  test('license and network errors get their own words', () {
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

  test('TikTok states map from ttb_tiktok_state and have words', () {
    expect(TiktokState.fromNative(TTB_TIKTOK_LIVE), TiktokState.live);
    expect(TiktokState.fromNative(TTB_TIKTOK_OFF), TiktokState.off);
    expect(TiktokState.fromNative(TTB_TIKTOK_ERROR), TiktokState.error);
    expect(TiktokState.fromNative(42), TiktokState.unknown);
    expect(trFor('en', tiktokStateMessage(TiktokState.live)), 'live');
    expect(trFor('ru', tiktokStateMessage(TiktokState.live)), 'в эфире');
    expect(tiktokErrorMessage(TTB_ERR_INVALID), Msg.errTiktokName);
    expect(tiktokErrorMessage(TTB_ERR_AUTH), Msg.errSession);
    expect(tiktokErrorMessage(TTB_ERR_NETWORK), Msg.errNoNetwork);
  });

  test('connection states map from ttb_conn_state', () {
    expect(ConnState.fromNative(TTB_STATE_CONNECTED), ConnState.connected);
    expect(ConnState.fromNative(TTB_STATE_RECONNECTING), ConnState.reconnecting);
    expect(ConnState.fromNative(42), ConnState.disconnected);
  });
}
