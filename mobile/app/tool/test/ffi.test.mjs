import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { appPaths } from '../check.mjs';
import { parseCHeader, parseDartBindings, compareBindings, prototypes } from '../lib/ffi_compare.mjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const p = appPaths(appDir);
const clientH = fs.readFileSync(p.clientH, 'utf8');
const sinkH = fs.readFileSync(p.sinkAndroidH, 'utf8');
const [coreDart, sinkDart] = p.dartBindings.map((f) => fs.readFileSync(f, 'utf8'));

function compare({ c = clientH, s = sinkH, core = coreDart, sink = sinkDart } = {}) {
  const model = parseCHeader(c);
  parseCHeader(s, model);
  return compareBindings(model, parseDartBindings([core, sink]));
}

/** Replaces exactly one occurrence (so a mutation never silently does nothing). */
function mutate(text, from, to) {
  const n = text.split(from).length - 1;
  assert.equal(n, 1, `mutation anchor must occur once: ${from}`);
  return text.replace(from, to);
}

test('the real bindings agree with client.h and ttb_sink.h', () => {
  assert.deepEqual(compare(), []);
});

test('the header declares the whole API the brief names', () => {
  const m = parseCHeader(clientH);
  for (const f of ['ttb_strerror', 'ttb_client_create', 'ttb_client_destroy', 'ttb_client_last_error', 'ttb_client_login', 'ttb_client_has_token', 'ttb_client_logout', 'ttb_client_start', 'ttb_client_stop', 'ttb_client_reconnect_now', 'ttb_client_state', 'ttb_client_get_settings', 'ttb_client_set_settings', 'ttb_client_get_stats', 'ttb_client_poll_event', 'ttb_client_recent_events', 'ttb_client_render']) {
    assert.ok(m.functions.has(f), f);
  }
  assert.deepEqual(m.structs.get('ttb_event').map((f) => `${f.name}${f.dims.map((d) => `[${d}]`).join('')}`), ['kind', 'seq', 'time_ms', 'count', 'filtered', 'user[129]', 'text[1025]']);
  assert.equal(m.constants.get('TTB_ERR_CORRUPT'), -12);
  assert.equal(m.constants.get('TTB_STATE_RECONNECTING'), 3);
  assert.ok(m.opaques.has('ttb_client'));
});

test('the Android and iOS sink headers declare the same functions', () => {
  const a = prototypes(parseCHeader(sinkH, parseCHeader(clientH)));
  const b = prototypes(parseCHeader(fs.readFileSync(p.sinkIosH, 'utf8'), parseCHeader(clientH)));
  assert.deepEqual(a, b);
});

const MUTATIONS = [
  ['struct field type (Uint64 -> Uint32)', { core: ['  @Uint64()\n  external int gift_count;', '  @Uint32()\n  external int gift_count;'] }, /ttb_stats\.gift_count/],
  ['struct field removed', { core: ['  @Bool()\n  external bool binary_mode;\n', ''] }, /ttb_settings: fields differ/],
  ['struct fields reordered', { core: ['  @Uint64()\n  external int seq;\n  @Int64()\n  external int time_ms;', '  @Int64()\n  external int time_ms;\n  @Uint64()\n  external int seq;'] }, /ttb_event: fields differ/],
  ['array size', { core: ['@Array(1025)', '@Array(1024)'] }, /ttb_event\.text: C array \[1025\]/],
  ['array element type', { core: ['external Array<Uint8> user;', 'external Array<Uint16> user;'] }, /ttb_event\.user: element type/],
  ['annotation vs Dart type', { core: ['  @Float()\n  external double tts_volume;', '  @Float()\n  external int tts_volume;'] }, /tts_volume: @Float\(\) needs Dart type double/],
  ['parameter type', { core: ["Size Function(Pointer<TtbClient> c, Pointer<Int16> pcm, Size frames)", "Size Function(Pointer<TtbClient> c, Pointer<Int32> pcm, Size frames)"] }, /ttb_client_render: parameter 2/],
  ['parameter count', { sink: ['Int32 Function(Pointer<TtbClient> c, Uint32 sample_rate, Uint32 channels)', 'Int32 Function(Pointer<TtbClient> c, Uint32 sample_rate)'] }, /ttb_sink_start: 3 parameter\(s\) in C, 2 in Dart/],
  ['return type', { core: ["lib.lookupFunction<Bool Function(Pointer<TtbClient> c), bool Function(Pointer<TtbClient> c)>(\n          'ttb_client_has_token')", "lib.lookupFunction<Int32 Function(Pointer<TtbClient> c), int Function(Pointer<TtbClient> c)>(\n          'ttb_client_has_token')"] }, /ttb_client_has_token: returns bool in C but Int32/],
  ['Dart side inconsistent with native side', { core: ['int Function(Pointer<TtbClient> c, Pointer<TtbEvent> out, int max)', 'double Function(Pointer<TtbClient> c, Pointer<TtbEvent> out, int max)'] }, /ttb_client_recent_events: Dart signature/],
  ['function not bound', { sink: ["  late final ttb_sink_pause = lib.lookupFunction<Int32 Function(), int Function()>('ttb_sink_pause');\n", ''] }, /ttb_sink_pause: declared in C, not bound/],
  ['function bound under a wrong name', { core: ["'ttb_client_reconnect_now'", "'ttb_client_reconnect'"] }, /ttb_client_reconnect: bound in Dart, not declared in C/],
  ['constant value', { core: ['const int TTB_ERR_DEVICE_LIMIT = -10;', 'const int TTB_ERR_DEVICE_LIMIT = -11;'] }, /TTB_ERR_DEVICE_LIMIT: -10 in C but -11/],
  ['constant missing', { core: ['const int TTB_EVENT_ERROR = 4;\n', ''] }, /TTB_EVENT_ERROR = 4: missing in Dart/],
  ['C header changed: new field', { c: ['  uint64_t uptime_ms;\n} ttb_stats;', '  uint64_t uptime_ms;\n  uint64_t dropped;\n} ttb_stats;'] }, /ttb_stats: fields differ/],
  ['C header changed: extra parameter', { c: ['int ttb_client_login(ttb_client *c, const char *license_key);', 'int ttb_client_login(ttb_client *c, const char *license_key, int timeout_ms);'] }, /ttb_client_login: 3 parameter\(s\) in C, 2 in Dart/],
  ['C header changed: enum value', { c: ['TTB_EVENT_STATE = 3,', 'TTB_EVENT_STATE = 5,'] }, /TTB_EVENT_STATE: 5 in C but 3/],
  ['opaque handle missing in Dart', { core: ['final class TtbClient extends Opaque {}', 'final class TtbClientX extends Opaque {}'] }, /opaque in C, no "final class TtbClient extends Opaque"/],
];

for (const [name, m, expected] of MUTATIONS) {
  test(`detects a mismatch: ${name}`, () => {
    const args = {};
    if (m.c) args.c = mutate(clientH, ...m.c);
    if (m.core) args.core = mutate(coreDart, ...m.core);
    if (m.sink) args.sink = mutate(sinkDart, ...m.sink);
    let errors;
    try {
      errors = compare(args);
    } catch (e) {
      errors = [e.message];
    }
    assert.ok(errors.length > 0, 'the mismatch went unnoticed');
    assert.ok(errors.some((e) => expected.test(e)), `expected ${expected} in:\n${errors.join('\n')}`);
  });
}
