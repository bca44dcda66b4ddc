import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appPaths, runChecks } from '../check.mjs';
import { checkAndroidManifest, checkInfoPlist, checkAppDelegate, checkServiceDart } from '../lib/platform_config.mjs';
import { checkPubspec } from '../lib/pubspec.mjs';
import { checkL10n } from '../lib/l10n.mjs';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const p = appPaths(appDir);
const read = (f) => fs.readFileSync(f, 'utf8');
const manifest = read(p.manifest);
const plist = read(p.plist);
const delegate = read(p.appDelegate);
const pubspec = read(p.pubspec);
const l10n = read(p.l10n);

function once(text, from, to) {
  assert.equal(text.split(from).length - 1, 1, `anchor must occur once: ${from}`);
  return text.replace(from, to);
}

test('all checks pass on the app', async () => {
  const results = await runChecks(appDir);
  assert.deepEqual(results.filter((r) => !r.ok).map((r) => [r.name, r.errors]), []);
});

test('manifest: the real one passes', () => assert.deepEqual(checkAndroidManifest(manifest), []));

for (const perm of ['INTERNET', 'WAKE_LOCK', 'FOREGROUND_SERVICE_MEDIA_PLAYBACK', 'POST_NOTIFICATIONS']) {
  test(`manifest: a missing ${perm} fails`, () => {
    const bad = once(manifest, `<uses-permission android:name="android.permission.${perm}" />`, '');
    assert.match(checkAndroidManifest(bad).join('\n'), new RegExp(`android\\.permission\\.${perm}"`));
  });
}

test('manifest: the battery-optimisation exemption must not come back', () => {
  const bad = once(manifest, '<uses-permission android:name="android.permission.POST_NOTIFICATIONS" />',
    '<uses-permission android:name="android.permission.POST_NOTIFICATIONS" /><uses-permission android:name="android.permission.REQUEST_IGNORE_BATTERY_OPTIMIZATIONS" />');
  assert.match(checkAndroidManifest(bad).join('\n'), /declares android\.permission\.REQUEST_IGNORE_BATTERY_OPTIMIZATIONS, which the app does not use/);
});

test('manifest: a commented-out permission does not count', () => {
  const bad = once(manifest, '<uses-permission android:name="android.permission.WAKE_LOCK" />', '<!-- <uses-permission android:name="android.permission.WAKE_LOCK" /> -->');
  assert.match(checkAndroidManifest(bad).join('\n'), /WAKE_LOCK/);
});

test('manifest: the service must be of type mediaPlayback', () => {
  const bad = once(manifest, 'android:foregroundServiceType="mediaPlayback"', 'android:foregroundServiceType="dataSync"');
  assert.match(checkAndroidManifest(bad).join('\n'), /mediaPlayback/);
});

test('manifest: malformed XML fails', () => {
  assert.match(checkAndroidManifest(once(manifest, '</application>', '')).join('\n'), /not well-formed/);
});

test('service: the notification text is required', () => {
  const constants = read(p.constants);
  const bg = read(p.background);
  assert.deepEqual(checkServiceDart(constants, bg), []);
  assert.match(checkServiceDart(once(constants, "'TTBoost работает в фоне'", "'TTBoost'"), bg).join('\n'), /работает в фоне/);
});

test('plist: the real one passes', () => assert.deepEqual(checkInfoPlist(plist), []));

test('plist: UIBackgroundModes without audio fails', () => {
  assert.match(checkInfoPlist(once(plist, '<string>audio</string>', '')).join('\n'), /lacks "audio"/);
});

test('plist: a background mode the app does not use (fetch) fails', () => {
  const bad = once(plist, '<string>audio</string>', '<string>audio</string><string>fetch</string>');
  assert.match(checkInfoPlist(bad).join('\n'), /declares "fetch", which the app does not use/);
});

test('plist: audio outside UIBackgroundModes does not count', () => {
  const bad = once(plist, '<key>UIBackgroundModes</key>', '<key>SomethingElse</key>');
  assert.match(checkInfoPlist(bad).join('\n'), /UIBackgroundModes \(array\) is missing/);
});

test('AppDelegate: playback, mixWithOthers and interruptions are required', () => {
  assert.deepEqual(checkAppDelegate(delegate), []);
  assert.match(checkAppDelegate(delegate.replaceAll('.mixWithOthers', '.duckOthers')).join('\n'), /mixWithOthers/);
  assert.match(checkAppDelegate(delegate.replaceAll('AVAudioSession.interruptionNotification', 'X')).join('\n'), /interruption/);
});

test('pubspec: the real one passes', () => assert.deepEqual(checkPubspec(pubspec, appDir), []));

test('pubspec: a caret range fails', () => {
  assert.match(checkPubspec(once(pubspec, 'provider: 6.1.2', 'provider: ^6.1.2'), appDir).join('\n'), /provider is not pinned/);
});

test('pubspec: "any" and git dependencies fail', () => {
  assert.match(checkPubspec(once(pubspec, 'ffi: 2.1.3', 'ffi: any'), appDir).join('\n'), /ffi is not pinned/);
  assert.match(checkPubspec(once(pubspec, 'ffi: 2.1.3', 'ffi:\n    git: https://example.invalid/ffi.git'), appDir).join('\n'), /ffi is not pinned/);
});

test('pubspec: invalid YAML fails', () => {
  assert.match(checkPubspec(once(pubspec, 'name: ttboost', 'name: [ttboost'), appDir).join('\n'), /does not parse/);
});

test('pubspec: a required dependency missing fails, audioplayers is refused', () => {
  assert.match(checkPubspec(once(pubspec, '  permission_handler: 11.3.1\n', ''), appDir).join('\n'), /permission_handler is missing/);
  assert.match(checkPubspec(once(pubspec, '  ffi: 2.1.3\n', '  ffi: 2.1.3\n  audioplayers: 6.1.0\n'), appDir).join('\n'), /audioplayers must not be used/);
});

test('l10n: ru and en are complete; a missing translation fails', () => {
  assert.deepEqual(checkL10n(l10n), []);
  assert.match(checkL10n(once(l10n, "    Msg.errExpired: 'Your license has expired. Renew it to continue.',\n", '')).join('\n'), /'en' lacks Msg\.errExpired/);
});
