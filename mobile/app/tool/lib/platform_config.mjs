// Checks that the Android and iOS configuration carry what background
// operation needs (permissions, the mediaPlayback service, background audio).
import { parseXml, walk, plistValue } from './xml.mjs';

export const REQUIRED_ANDROID_PERMISSIONS = [
  'android.permission.INTERNET',
  'android.permission.WAKE_LOCK',
  'android.permission.FOREGROUND_SERVICE',
  'android.permission.FOREGROUND_SERVICE_MEDIA_PLAYBACK',
  'android.permission.POST_NOTIFICATIONS',
];
// Not declared: the app runs as a mediaPlayback foreground service and needs
// no exemption from Doze (mobile/app/README.md, "App-store review").
export const FORBIDDEN_ANDROID_PERMISSIONS = ['android.permission.REQUEST_IGNORE_BATTERY_OPTIMIZATIONS'];
export const SERVICE_NAME = 'id.flutter.flutter_background_service.BackgroundService';
export const NOTIFICATION_TEXT = 'TTBoost работает в фоне';
export const REQUIRED_BACKGROUND_MODES = ['audio'];
// Declared but unused background modes are what App Review rejects (2.5.4):
// the app uses none but audio (mobile/app/README.md, "App-store review").
export const ALLOWED_BACKGROUND_MODES = ['audio'];

/** AndroidManifest.xml: permissions and the foreground service of type mediaPlayback. */
export function checkAndroidManifest(text) {
  const errors = [];
  let doc;
  try {
    doc = parseXml(text);
  } catch (e) {
    return [`AndroidManifest.xml is not well-formed: ${e.message}`];
  }
  const manifest = doc.children.find((c) => c.name === 'manifest');
  if (!manifest) return ['AndroidManifest.xml: no <manifest> root'];
  const perms = new Set(
    manifest.children.filter((c) => c.name === 'uses-permission').map((c) => c.attrs['android:name']),
  );
  for (const p of REQUIRED_ANDROID_PERMISSIONS) if (!perms.has(p)) errors.push(`AndroidManifest.xml: missing <uses-permission android:name="${p}"/>`);
  for (const p of FORBIDDEN_ANDROID_PERMISSIONS) if (perms.has(p)) errors.push(`AndroidManifest.xml: declares ${p}, which the app does not use`);
  const app = manifest.children.find((c) => c.name === 'application');
  if (!app) return [...errors, 'AndroidManifest.xml: no <application>'];
  const service = app.children.find((c) => c.name === 'service' && c.attrs['android:name'] === SERVICE_NAME);
  if (!service) errors.push(`AndroidManifest.xml: no <service android:name="${SERVICE_NAME}">`);
  else {
    const types = (service.attrs['android:foregroundServiceType'] ?? '').split('|');
    if (!types.includes('mediaPlayback')) errors.push('AndroidManifest.xml: the background service must have android:foregroundServiceType="mediaPlayback"');
  }
  if (!app.children.some((c) => c.name === 'activity')) errors.push('AndroidManifest.xml: no <activity>');
  return errors;
}

/** The Dart side posts the required notification text and service type. */
export function checkServiceDart(constantsDart, backgroundDart) {
  const errors = [];
  if (!constantsDart.includes(`'${NOTIFICATION_TEXT}'`)) errors.push(`lib/utils/constants.dart: the notification text «${NOTIFICATION_TEXT}» is missing`);
  if (!/AndroidForegroundType\.mediaPlayback/.test(backgroundDart)) errors.push('lib/services/background_service.dart: foregroundServiceTypes must include AndroidForegroundType.mediaPlayback');
  if (!/isForegroundMode:\s*true/.test(backgroundDart)) errors.push('lib/services/background_service.dart: isForegroundMode must be true');
  return errors;
}

/** Info.plist: UIBackgroundModes is exactly audio (no mode the app does not use). */
export function checkInfoPlist(text) {
  let dict;
  try {
    const doc = parseXml(text);
    const plist = doc.children.find((c) => c.name === 'plist');
    if (!plist || plist.children[0]?.name !== 'dict') return ['Info.plist: no <plist><dict>'];
    dict = plistValue(plist.children[0]);
  } catch (e) {
    return [`Info.plist is not well-formed: ${e.message}`];
  }
  const modes = dict.UIBackgroundModes;
  if (!Array.isArray(modes)) return ['Info.plist: UIBackgroundModes (array) is missing'];
  return [
    ...REQUIRED_BACKGROUND_MODES.filter((m) => !modes.includes(m)).map((m) => `Info.plist: UIBackgroundModes lacks "${m}"`),
    ...modes.filter((m) => !ALLOWED_BACKGROUND_MODES.includes(m)).map((m) => `Info.plist: UIBackgroundModes declares "${m}", which the app does not use`),
  ];
}

/** AppDelegate.swift: AVAudioSession playback + mixWithOthers + interruption handling. */
export function checkAppDelegate(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  const need = [
    [/setCategory\(\s*\.playback\b/, 'AVAudioSession category .playback'],
    [/\.mixWithOthers\b/, 'option .mixWithOthers (TikTok keeps its sound)'],
    [/setActive\(\s*true\s*\)/, 'session activation (setActive(true))'],
    [/AVAudioSession\.interruptionNotification/, 'an observer of AVAudioSession.interruptionNotification'],
    [/ttb_sink_pause\(\)/, 'pausing the sink when an interruption begins'],
    [/ttb_sink_resume\(\)/, 'resuming the sink when it ends'],
  ];
  return need.filter(([re]) => !re.test(code)).map(([, what]) => `AppDelegate.swift: missing ${what}`);
}
