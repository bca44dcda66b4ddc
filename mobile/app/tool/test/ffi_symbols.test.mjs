import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNmOutput, compareExports } from '../lib/ffi_symbols.mjs';

const nm = `0000000000006da9 T ttb_client_create
00000000000072a4 T ttb_client_destroy
0000000000004959 T ttb_strerror
0000000000001000 W ttb_client_weak
0000000000002000 D ttb_data_symbol
0000000000003000 B some_bss
`;

test('nm -D output: functions only (T, W), data and bss left out', () => {
  assert.deepEqual([...parseNmOutput(nm)].sort(), ['ttb_client_create', 'ttb_client_destroy', 'ttb_client_weak', 'ttb_strerror']);
});

const core = ['ttb_client_create', 'ttb_client_destroy', 'ttb_strerror'];
const sink = ['ttb_sink_start', 'ttb_sink_stop'];

test('bindings = exports: no error', () => {
  assert.deepEqual(compareExports(new Set(core), core, sink), []);
  assert.deepEqual(compareExports(new Set([...core, ...sink]), core, sink), []);
});

test('a bound function the library does not export fails', () => {
  const errs = compareExports(new Set(core.slice(1)), core, sink, 'lib');
  assert.deepEqual(errs, ['lib does not export ttb_client_create (bound in lib/ffi)']);
});

test('an exported API function the bindings do not bind fails', () => {
  const errs = compareExports(new Set([...core, 'ttb_client_new_thing']), core, sink, 'lib');
  assert.deepEqual(errs, ['lib exports ttb_client_new_thing, which lib/ffi does not bind']);
});

test('a library with a sink must export every sink function', () => {
  const errs = compareExports(new Set([...core, 'ttb_sink_start']), core, sink, 'lib');
  assert.deepEqual(errs, ['lib does not export ttb_sink_stop (bound in lib/ffi)']);
});

test('leaked dependency symbols fail', () => {
  const errs = compareExports(new Set([...core, 'opus_decode', 'lws_write']), core, sink, 'lib');
  assert.equal(errs.length, 1);
  assert.match(errs[0], /non-API functions: lws_write, opus_decode/);
});
