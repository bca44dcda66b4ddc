#!/usr/bin/env node
// Source checks of the TTBoost Flutter app that run without the Flutter SDK:
//   dart-syntax  every .dart file parses (tree-sitter-dart, Dart 3 syntax)
//   ffi          lib/ffi/*.dart agree with ttboost/client.h and ttb_sink.h
//   ffi-lib      ... and with the functions the built libraries export (nm -D):
//                TTB_NATIVE_LIBS=lib.so[:lib.so...] (scripts/test.sh sets it to
//                the x86-64 and arm64 builds of mobile/app/native); unset: the
//                libraries found in the build-native* folders of the repository
//   android      AndroidManifest.xml permissions + mediaPlayback service
//   ios          Info.plist background modes + AVAudioSession in AppDelegate
//   pubspec      pubspec.yaml parses, pins versions, bundles Inter
//   l10n         every message in Russian and English
// Usage: node check.mjs [appDir]   (exit status 1 when any check fails)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDartFiles, findDartFiles, DEFAULT_GRAMMAR } from './lib/dart_syntax.mjs';
import { parseCHeader, parseDartBindings, compareBindings, prototypes } from './lib/ffi_compare.mjs';
import { checkAndroidManifest, checkInfoPlist, checkAppDelegate, checkServiceDart } from './lib/platform_config.mjs';
import { checkPubspec } from './lib/pubspec.mjs';
import { exportedFunctions, compareExports } from './lib/ffi_symbols.mjs';
import { checkL10n } from './lib/l10n.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export function appPaths(appDir) {
  const core = path.resolve(appDir, '../core');
  return {
    clientH: path.join(core, 'include/ttboost/client.h'),
    sinkAndroidH: path.join(core, 'platform/android/ttb_sink.h'),
    sinkIosH: path.join(core, 'platform/ios/ttb_sink.h'),
    dartBindings: [path.join(appDir, 'lib/ffi/ttboost_bindings.dart'), path.join(appDir, 'lib/ffi/sink_bindings.dart')],
    manifest: path.join(appDir, 'android/app/src/main/AndroidManifest.xml'),
    plist: path.join(appDir, 'ios/Runner/Info.plist'),
    appDelegate: path.join(appDir, 'ios/Runner/AppDelegate.swift'),
    pubspec: path.join(appDir, 'pubspec.yaml'),
    constants: path.join(appDir, 'lib/utils/constants.dart'),
    background: path.join(appDir, 'lib/services/background_service.dart'),
    l10n: path.join(appDir, 'lib/utils/l10n.dart'),
  };
}

const read = (f) => fs.readFileSync(f, 'utf8');

/** The built libraries to check: TTB_NATIVE_LIBS, or those in the build-native* folders. */
export function nativeLibraries(appDir, env = process.env) {
  if (env.TTB_NATIVE_LIBS) return env.TTB_NATIVE_LIBS.split(':').filter(Boolean);
  const root = path.resolve(appDir, '../..');
  return fs.readdirSync(root)
    .filter((d) => d.startsWith('build-native'))
    .map((d) => path.join(root, d, 'libttboost_client.so'))
    .filter((f) => fs.existsSync(f));
}

/** Runs every check; returns [{name, ok, detail, errors}]. */
export async function runChecks(appDir) {
  const p = appPaths(appDir);
  const results = [];
  const run = async (name, fn) => {
    try {
      const { errors, detail } = await fn();
      results.push({ name, ok: errors.length === 0, detail, errors });
    } catch (e) {
      results.push({ name, ok: false, detail: 'crashed', errors: [e.message] });
    }
  };

  await run('dart-syntax', async () => {
    const files = findDartFiles(appDir);
    const failures = await checkDartFiles(files, DEFAULT_GRAMMAR);
    const errors = failures.flatMap(({ file, problems }) =>
      problems.map((q) => `${path.relative(appDir, file)}:${q.line}:${q.column}: ${q.kind} near "${q.text}"`));
    if (files.length === 0) errors.push('no .dart files found');
    return { errors, detail: `${files.length} .dart files parse` };
  });

  await run('ffi', async () => {
    const c = parseCHeader(read(p.clientH));
    parseCHeader(read(p.sinkAndroidH), c);
    const ios = parseCHeader(read(p.sinkIosH), parseCHeader(read(p.clientH)));
    const errors = [];
    const a = prototypes(c).join('\n');
    const b = prototypes(ios).join('\n');
    if (a !== b) errors.push('platform/android/ttb_sink.h and platform/ios/ttb_sink.h declare different functions');
    const d = parseDartBindings(p.dartBindings.map(read));
    errors.push(...compareBindings(c, d));
    return { errors, detail: `${c.functions.size} functions, ${c.structs.size} structs, ${c.opaques.size} opaque, ${c.constants.size} constants agree` };
  });

  await run('ffi-lib', async () => {
    const errors = [];
    const libs = nativeLibraries(appDir);
    if (libs.length === 0) {
      return { errors, detail: 'no library built (scripts/native-app.sh builds them): skipped' };
    }
    const texts = p.dartBindings.map(read);
    const core = [...parseDartBindings([texts[0]]).functions.keys()];
    const sink = [...parseDartBindings([texts[1]]).functions.keys()];
    for (const lib of libs) {
      if (!fs.existsSync(lib)) {
        errors.push(`${lib} does not exist (TTB_NATIVE_LIBS)`);
        continue;
      }
      errors.push(...compareExports(exportedFunctions(lib), core, sink, path.relative(path.resolve(appDir, '../..'), lib)));
    }
    return { errors, detail: `${core.length} bound functions = the exports of ${libs.length} librar${libs.length === 1 ? 'y' : 'ies'}` };
  });

  await run('android', async () => ({
    errors: [...checkAndroidManifest(read(p.manifest)), ...checkServiceDart(read(p.constants), read(p.background))],
    detail: 'permissions, mediaPlayback service, notification text',
  }));

  await run('ios', async () => ({
    errors: [...checkInfoPlist(read(p.plist)), ...checkAppDelegate(read(p.appDelegate))],
    detail: 'UIBackgroundModes = audio, AVAudioSession playback/mixWithOthers, interruptions',
  }));

  await run('pubspec', async () => ({ errors: checkPubspec(read(p.pubspec), appDir), detail: 'parses, exact versions, Inter bundled' }));

  await run('l10n', async () => ({ errors: checkL10n(read(p.l10n)), detail: 'ru and en complete' }));

  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const appDir = path.resolve(process.argv[2] ?? path.join(here, '..'));
  const results = await runChecks(appDir);
  console.log(`TTBoost app checks (${appDir})`);
  for (const r of results) {
    console.log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(12)} ${r.ok ? r.detail : ''}`);
    for (const e of r.errors) console.log(`        - ${e}`);
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`app checks: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
