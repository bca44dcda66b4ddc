// pubspec.yaml: parses, pins every hosted dependency to an exact version,
// has the packages the app needs, and bundles the Inter font with its license.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

export const REQUIRED_DEPENDENCIES = ['provider', 'flutter_background_service', 'flutter_local_notifications', 'permission_handler', 'ffi', 'flutter_secure_storage'];
// The core decodes and mixes audio; a Dart player would fight it for the output.
export const FORBIDDEN_DEPENDENCIES = ['audioplayers', 'just_audio', 'web_socket_channel'];
const EXACT = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function checkPubspec(text, appDir) {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) return doc.errors.map((e) => `pubspec.yaml does not parse: ${e.message.split('\n')[0]}`);
  const spec = doc.toJS();
  const errors = [];
  if (!spec || typeof spec !== 'object') return ['pubspec.yaml: not a mapping'];
  if (!spec.name) errors.push('pubspec.yaml: no name');
  if (!spec.environment?.sdk) errors.push('pubspec.yaml: no environment.sdk constraint');
  for (const section of ['dependencies', 'dev_dependencies', 'dependency_overrides']) {
    for (const [name, v] of Object.entries(spec[section] ?? {})) {
      if (v && typeof v === 'object' && v.sdk === 'flutter') continue;
      if (typeof v === 'string' && EXACT.test(v)) continue;
      if (v && typeof v === 'object' && typeof v.version === 'string' && EXACT.test(v.version) && v.hosted) continue;
      errors.push(`pubspec.yaml: ${section}.${name} is not pinned to an exact version (${JSON.stringify(v)})`);
    }
  }
  for (const d of REQUIRED_DEPENDENCIES) if (!(d in (spec.dependencies ?? {}))) errors.push(`pubspec.yaml: dependency ${d} is missing`);
  for (const d of FORBIDDEN_DEPENDENCIES) if (d in (spec.dependencies ?? {})) errors.push(`pubspec.yaml: ${d} must not be used (the core plays audio and owns the socket)`);
  const fonts = spec.flutter?.fonts ?? [];
  const inter = fonts.find((f) => f.family === 'Inter');
  if (!inter) errors.push('pubspec.yaml: the Inter font family is not declared');
  else {
    const weights = new Set(inter.fonts.map((f) => f.weight ?? 400));
    for (const w of [400, 600, 700]) if (!weights.has(w)) errors.push(`pubspec.yaml: Inter weight ${w} missing (body, H2, H1)`);
    for (const f of inter.fonts) {
      if (appDir && !fs.existsSync(path.join(appDir, f.asset))) errors.push(`pubspec.yaml: font file ${f.asset} does not exist`);
    }
    if (appDir && inter.fonts[0] && !fs.readdirSync(path.join(appDir, path.dirname(inter.fonts[0].asset))).some((n) => /licen[cs]e|ofl/i.test(n))) {
      errors.push('assets/fonts: the Inter license file is missing');
    }
  }
  return errors;
}
