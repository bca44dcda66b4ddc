// The dart:ffi bindings against a built library: the functions that
// lib/ffi/*.dart look up must be exactly the functions the library exports
// (`nm -D --defined-only`), so a missing export fails here rather than with
// "symbol not found" on a phone, and nothing is exported that the app does not
// bind. The sink functions (ttb_sink.h) are expected only from a library
// built with a platform sink; a library without one must export none of them.
import { execFileSync } from 'node:child_process';

/** Function symbols a shared library exports (defined, global: nm -D type T/W/i). */
export function exportedFunctions(libPath, { nm = process.env.NM || 'nm' } = {}) {
  const out = execFileSync(nm, ['-D', '--defined-only', libPath], { encoding: 'utf8' });
  return parseNmOutput(out);
}

/** Parses `nm -D --defined-only` output into the set of exported function names. */
export function parseNmOutput(text) {
  const names = new Set();
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*(?:[0-9a-fA-F]+\s+)?([TtWiI])\s+(\S+)$/);
    if (m && /[TWi]/.test(m[1])) names.add(m[2].replace(/@.*$/, ''));
  }
  return names;
}

/**
 * Compares the bound function names with a library's exports.
 * coreNames: functions of ttboost_bindings.dart; sinkNames: of sink_bindings.dart.
 * Returns a list of error strings (empty when they agree).
 */
export function compareExports(exported, coreNames, sinkNames, label = 'the library') {
  const errors = [];
  const ttb = [...exported].filter((n) => n.startsWith('ttb_'));
  const hasSink = sinkNames.some((n) => exported.has(n));
  const expected = new Set([...coreNames, ...(hasSink ? sinkNames : [])]);
  for (const n of expected) {
    if (!exported.has(n)) errors.push(`${label} does not export ${n} (bound in lib/ffi)`);
  }
  for (const n of ttb.sort()) {
    if (!expected.has(n)) errors.push(`${label} exports ${n}, which lib/ffi does not bind`);
  }
  const other = [...exported].filter((n) => !n.startsWith('ttb_') && !/^_(init|fini)$/.test(n));
  if (other.length) errors.push(`${label} exports non-API functions: ${other.sort().slice(0, 8).join(', ')}${other.length > 8 ? ', …' : ''}`);
  return errors;
}
