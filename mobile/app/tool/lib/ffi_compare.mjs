// Compares the hand-written dart:ffi bindings (lib/ffi/*.dart) with the C
// headers they bind (ttboost/client.h, ttb_sink.h): every prototype, struct
// layout (field order, types, array sizes) and integer constant must agree.
//
// The C side is parsed by a small declaration parser that understands what a
// plain C11 API header holds: #define integer constants, `#ifdef __cplusplus`
// blocks (skipped), `typedef struct X X;` (opaque), `typedef struct {…} X;`,
// `typedef enum {…} X;`, anonymous `enum {…};` and function prototypes.
// The Dart side is parsed structurally too (balanced brackets), from the forms
// the bindings use: `const int NAME = N;`, `final class X extends Struct|Opaque`
// with annotated `external` fields, and `lookupFunction<Native, Dart>('name')`.

// ---------------------------------------------------------------- C header

function stripCComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

function tokenizeC(text) {
  const re = /\s*(?:([A-Za-z_]\w*)|(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|("(?:[^"\\]|\\.)*")|(\S))/gy;
  const out = [];
  let m;
  while ((m = re.exec(text)) && m[0].length) {
    if (m[1]) out.push({ t: 'id', v: m[1] });
    else if (m[2]) out.push({ t: 'num', v: Number(m[2]) });
    else if (m[3]) out.push({ t: 'str', v: m[3] });
    else if (m[4]) out.push({ t: 'p', v: m[4] });
  }
  return out;
}

function evalInt(tokens, consts) {
  // Integer constant expressions as used in enums/defines: [-](N | NAME), parentheses allowed.
  const s = tokens
    .filter((k) => !(k.t === 'p' && (k.v === '(' || k.v === ')')))
    .map((k) => (k.t === 'id' ? (k.v in consts ? String(consts[k.v]) : null) : String(k.v)));
  if (s.includes(null)) return undefined;
  const text = s.join('');
  return /^-?\d+$/.test(text) ? Number(text) : undefined;
}

/** Parses a C header into {functions, structs, opaques, enums, constants}. */
export function parseCHeader(text, into) {
  const model = into ?? { functions: new Map(), structs: new Map(), opaques: new Set(), enums: new Set(), constants: new Map() };
  const lines = stripCComments(text).replace(/\\\n/g, ' ').split('\n');
  const kept = [];
  const stack = []; // true = skipping
  for (const line of lines) {
    const d = line.match(/^\s*#\s*(\w+)\s*(.*)$/);
    const skipping = stack.includes(true);
    if (d) {
      const [, dir, rest] = d;
      if (dir === 'ifdef' || dir === 'ifndef' || dir === 'if') stack.push(dir === 'ifdef' && rest.trim() === '__cplusplus');
      else if (dir === 'else' || dir === 'elif') stack[stack.length - 1] = false;
      else if (dir === 'endif') stack.pop();
      else if (dir === 'define' && !skipping) {
        const m = rest.match(/^([A-Za-z_]\w*)\s+(.+)$/);
        if (m) {
          const v = evalInt(tokenizeC(m[2]), Object.fromEntries(model.constants));
          if (v !== undefined) model.constants.set(m[1], v);
        }
      }
      kept.push('');
      continue;
    }
    kept.push(skipping ? '' : line);
  }
  const tokens = tokenizeC(kept.join('\n')).filter((k) => !(k.t === 'id' && k.v === 'TTB_EXPORT'));

  // Split into top-level statements at ';' (brace depth 0).
  const stmts = [];
  let cur = [];
  let depth = 0;
  for (const k of tokens) {
    if (k.t === 'p' && k.v === '{') depth++;
    if (k.t === 'p' && k.v === '}') depth--;
    if (k.t === 'p' && k.v === ';' && depth === 0) {
      if (cur.length) stmts.push(cur);
      cur = [];
    } else cur.push(k);
  }
  if (cur.length) throw new Error(`C: unterminated declaration near ${cur.slice(0, 6).map((k) => k.v).join(' ')}`);

  for (const s of stmts) parseStatement(s, model);
  return model;
}

function braceBody(s, from) {
  const open = s.findIndex((k, i) => i >= from && k.t === 'p' && k.v === '{');
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i].v === '{') depth++;
    if (s[i].v === '}' && --depth === 0) return [open, i];
  }
  throw new Error('C: unbalanced braces');
}

function parseEnumerators(body, model) {
  let next = 0;
  const parts = splitTop(body, ',');
  for (const p of parts) {
    if (!p.length) continue;
    const name = p[0].v;
    const eq = p.findIndex((k) => k.v === '=');
    const v = eq >= 0 ? evalInt(p.slice(eq + 1), Object.fromEntries(model.constants)) : next;
    if (v === undefined) throw new Error(`C: cannot evaluate enumerator ${name}`);
    model.constants.set(name, v);
    next = v + 1;
  }
}

function splitTop(tokens, sep) {
  const out = [[]];
  let depth = 0;
  for (const k of tokens) {
    if (k.t === 'p' && '([{'.includes(k.v)) depth++;
    if (k.t === 'p' && ')]}'.includes(k.v)) depth--;
    if (k.t === 'p' && k.v === sep && depth === 0) out.push([]);
    else out[out.length - 1].push(k);
  }
  return out;
}

/** A C type from tokens (name removed): {base, ptr} with const dropped. */
function cType(tokens) {
  const words = tokens.filter((k) => k.t === 'id' && !['const', 'volatile', 'struct', 'enum', 'restrict'].includes(k.v)).map((k) => k.v);
  const ptr = tokens.filter((k) => k.v === '*').length;
  let base = words.join(' ');
  if (base === 'signed int' || base === 'signed') base = 'int';
  if (base === 'unsigned' || base === 'unsigned int') base = 'unsigned int';
  return { base, ptr };
}

/** Splits `type name [N]` into {name, type, dims}. */
function cDeclarator(tokens, model, what) {
  let end = tokens.length;
  const dims = [];
  while (end > 0 && tokens[end - 1].v === ']') {
    const open = tokens.map((k) => k.v).lastIndexOf('[', end - 1);
    const n = evalInt(tokens.slice(open + 1, end - 1), Object.fromEntries(model.constants));
    if (n === undefined) throw new Error(`C: array size of ${what} is not an integer constant`);
    dims.unshift(n);
    end = open;
  }
  const nameTok = tokens[end - 1];
  if (!nameTok || nameTok.t !== 'id') throw new Error(`C: no name in ${what}`);
  return { name: nameTok.v, type: cType(tokens.slice(0, end - 1)), dims };
}

function parseStatement(s, model) {
  const v = s.map((k) => k.v);
  if (v[0] === 'extern' && s[1]?.t === 'str') throw new Error('C: stray extern "C" outside #ifdef __cplusplus');
  if (v[0] === 'typedef' && v[1] === 'struct' && !v.includes('{')) {
    // typedef struct tag name;  -> opaque handle
    model.opaques.add(v[v.length - 1]);
    return;
  }
  if (v[0] === 'typedef' && (v[1] === 'struct' || v[1] === 'enum') && v.includes('{')) {
    const [open, close] = braceBody(s, 0);
    const name = v[close + 1];
    if (!name || close + 2 !== v.length) throw new Error(`C: unsupported typedef near ${name}`);
    const body = s.slice(open + 1, close);
    if (v[1] === 'enum') {
      parseEnumerators(body, model);
      model.enums.add(name);
      return;
    }
    const fields = [];
    for (const decl of splitTop(body, ';')) {
      if (!decl.length) continue;
      fields.push(cDeclarator(decl, model, `${name} field`));
    }
    model.structs.set(name, fields);
    return;
  }
  if (v[0] === 'enum' && v.includes('{')) {
    const [open, close] = braceBody(s, 0);
    parseEnumerators(s.slice(open + 1, close), model);
    return;
  }
  if (v[0] === 'typedef') throw new Error(`C: unsupported typedef: ${v.join(' ')}`);
  // Function prototype: type name ( params )
  const lp = v.indexOf('(');
  if (lp < 1 || v[v.length - 1] !== ')') throw new Error(`C: unsupported declaration: ${v.join(' ')}`);
  const name = v[lp - 1];
  const ret = cType(s.slice(0, lp - 1));
  const paramToks = s.slice(lp + 1, -1);
  let params = splitTop(paramToks, ',').filter((p) => p.length);
  if (params.length === 1 && params[0].length === 1 && params[0][0].v === 'void') params = [];
  model.functions.set(name, {
    ret,
    params: params.map((p, i) => cDeclarator(p, model, `parameter ${i + 1} of ${name}`)),
  });
}

// --------------------------------------------------------------- Dart side

function stripDartComments(text) {
  // Strings in the bindings never contain comment markers; keep it simple.
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

/** Index of the bracket closing the one at `open` (handles <>, (), {}, []). */
function matchBracket(text, open) {
  const pairs = { '<': '>', '(': ')', '{': '}', '[': ']' };
  const stack = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c in pairs) stack.push(pairs[c]);
    else if (c === '>' && text[i - 1] === '=') continue; // `=>`
    else if (Object.values(pairs).includes(c)) {
      if (stack.pop() !== c) throw new Error(`Dart: unbalanced '${c}' at offset ${i}`);
      if (!stack.length) return i;
    }
  }
  throw new Error('Dart: unbalanced brackets');
}

function splitTopText(text, sep = ',') {
  const out = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ('<({['.includes(c)) depth++;
    else if ('>)}]'.includes(c)) depth--;
    else if (c === sep && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter(Boolean);
}

const norm = (t) => t.replace(/\s+/g, '');

/** Parses `Ret Function(T a, U b)` into {ret, params: [type…]}. */
function parseDartFnType(text) {
  const t = text.trim();
  const at = t.indexOf('Function(');
  if (at < 0) throw new Error(`Dart: not a function type: ${t}`);
  const open = at + 'Function'.length;
  const close = matchBracket(t, open);
  if (t.slice(close + 1).trim()) throw new Error(`Dart: unexpected text after ${t}`);
  const params = splitTopText(t.slice(open + 1, close)).map((p) => {
    // "Type name" or "Type": drop a trailing identifier that follows the type at depth 0.
    const m = p.match(/^([\s\S]*?[>\w])\s+([a-z_]\w*)$/);
    return norm(m ? m[1] : p);
  });
  return { ret: norm(t.slice(0, at)), params };
}

/** Parses the binding files into {functions, structs, opaques, constants}. */
export function parseDartBindings(texts) {
  const model = { functions: new Map(), structs: new Map(), opaques: new Set(), constants: new Map() };
  for (const raw of texts) {
    const text = stripDartComments(raw);
    for (const m of text.matchAll(/\bconst\s+int\s+([A-Za-z_]\w*)\s*=\s*(-?\s*\d+)\s*;/g)) {
      model.constants.set(m[1], Number(m[2].replace(/\s+/g, '')));
    }
    for (const m of text.matchAll(/\bclass\s+(\w+)\s+extends\s+(Struct|Opaque|Union)\b[^{]*\{/g)) {
      const [, name, kind] = m;
      if (kind === 'Opaque') {
        model.opaques.add(name);
        continue;
      }
      if (kind === 'Union') throw new Error(`Dart: unions are not part of the API (${name})`);
      const open = m.index + m[0].length - 1;
      const body = text.slice(open + 1, matchBracket(text, open));
      const fields = [];
      const re = /((?:@\w+(?:\([^)]*\))?\s*)*)external\s+([\w<>,\s]+?)\s+(\w+)\s*;/g;
      for (const f of body.matchAll(re)) {
        const annotations = [...f[1].matchAll(/@(\w+)(?:\(([^)]*)\))?/g)].map((a) => ({ name: a[1], arg: a[2]?.trim() ?? '' }));
        fields.push({ name: f[3], dartType: norm(f[2]), annotations });
      }
      model.structs.set(name, fields);
    }
    let at = 0;
    for (;;) {
      at = text.indexOf('lookupFunction<', at);
      if (at < 0) break;
      const open = at + 'lookupFunction'.length;
      const close = matchBracket(text, open);
      const args = splitTopText(text.slice(open + 1, close));
      if (args.length !== 2) throw new Error(`Dart: lookupFunction needs <Native, Dart> at offset ${at}`);
      const nm = text.slice(close + 1).match(/^\s*\(\s*'(\w+)'\s*\)/);
      if (!nm) throw new Error(`Dart: lookupFunction without a literal symbol name at offset ${at}`);
      if (model.functions.has(nm[1])) throw new Error(`Dart: ${nm[1]} is bound twice`);
      model.functions.set(nm[1], { native: parseDartFnType(args[0]), dart: parseDartFnType(args[1]) });
      at = close;
    }
  }
  return model;
}

// ------------------------------------------------------------- comparison

const C_PRIMITIVES = {
  int: ['Int32', 'Int'],
  int8_t: ['Int8'],
  int16_t: ['Int16'],
  int32_t: ['Int32'],
  int64_t: ['Int64'],
  uint8_t: ['Uint8'],
  uint16_t: ['Uint16'],
  uint32_t: ['Uint32'],
  uint64_t: ['Uint64'],
  'unsigned int': ['Uint32', 'UnsignedInt'],
  size_t: ['Size', 'UintPtr'],
  intptr_t: ['IntPtr'],
  uintptr_t: ['UintPtr'],
  bool: ['Bool'],
  _Bool: ['Bool'],
  float: ['Float'],
  double: ['Double'],
  char: ['Char', 'Uint8', 'Int8'],
  void: ['Void'],
};

const NATIVE_NAMES = new Set([...Object.values(C_PRIMITIVES).flat(), 'IntPtr', 'Long', 'UnsignedLong', 'Short', 'UnsignedShort']);

/** `ttb_client_config` -> `TtbClientConfig`. */
export const dartClassName = (c) => c.split('_').map((w) => w[0].toUpperCase() + w.slice(1)).join('');

/** The Dart native types that may stand for a C type ({base, ptr}). */
function dartNativeFor(type, c) {
  if (type.ptr > 0) {
    const inner = { base: type.base, ptr: type.ptr - 1 };
    let targets;
    if (inner.ptr === 0 && type.base === 'char') targets = ['Utf8', 'Char', 'Uint8', 'Int8'];
    else if (inner.ptr === 0 && (c.structs.has(type.base) || c.opaques.has(type.base))) targets = [dartClassName(type.base)];
    else targets = dartNativeFor(inner, c);
    return targets.map((t) => `Pointer<${t}>`);
  }
  if (c.enums.has(type.base)) return ['Int32', 'Int', 'Uint32'];
  if (c.structs.has(type.base)) return [dartClassName(type.base)];
  const p = C_PRIMITIVES[type.base];
  if (!p) throw new Error(`C type ${type.base} has no dart:ffi mapping in this checker`);
  return p;
}

/** The Dart (non-native) type a dart:ffi native type converts to. */
function dartSideOf(native) {
  if (/^(Int|Uint)(8|16|32|64)?$|^(Size|IntPtr|UintPtr|Char|UnsignedInt|Long|UnsignedLong)$/.test(native)) return 'int';
  if (native === 'Float' || native === 'Double') return 'double';
  if (native === 'Bool') return 'bool';
  if (native === 'Void') return 'void';
  return native; // Pointer<…> and structs stay as they are
}

const fmt = (t) => `${t.base}${'*'.repeat(t.ptr)}`;

/** Returns a list of human-readable mismatches (empty = the bindings agree). */
export function compareBindings(c, d, { requireAll = true } = {}) {
  const errors = [];
  // Functions.
  for (const [name, fn] of c.functions) {
    const b = d.functions.get(name);
    if (!b) {
      if (requireAll) errors.push(`function ${name}: declared in C, not bound in Dart`);
      continue;
    }
    const retOk = dartNativeFor(fn.ret, c);
    if (!retOk.includes(b.native.ret)) errors.push(`function ${name}: returns ${fmt(fn.ret)} in C but ${b.native.ret} in Dart (expected ${retOk.join(' | ')})`);
    if (fn.params.length !== b.native.params.length) {
      errors.push(`function ${name}: ${fn.params.length} parameter(s) in C, ${b.native.params.length} in Dart`);
    } else {
      fn.params.forEach((p, i) => {
        const ok = dartNativeFor(p.type, c);
        if (!ok.includes(b.native.params[i])) errors.push(`function ${name}: parameter ${i + 1} (${p.name}) is ${fmt(p.type)} in C but ${b.native.params[i]} in Dart (expected ${ok.join(' | ')})`);
      });
    }
    // The Dart-side signature must be what dart:ffi derives from the native one.
    const want = [b.native.ret, ...b.native.params].map(dartSideOf);
    const have = [b.dart.ret, ...b.dart.params];
    if (want.length !== have.length || want.some((w, i) => w !== have[i])) {
      errors.push(`function ${name}: Dart signature ${have[0]} Function(${have.slice(1).join(', ')}) does not match native ${b.native.ret} Function(${b.native.params.join(', ')})`);
    }
  }
  for (const name of d.functions.keys()) if (!c.functions.has(name)) errors.push(`function ${name}: bound in Dart, not declared in C`);

  // Opaque handles.
  for (const o of c.opaques) if (!d.opaques.has(dartClassName(o))) errors.push(`type ${o}: opaque in C, no "final class ${dartClassName(o)} extends Opaque" in Dart`);

  // Structs.
  for (const [name, fields] of c.structs) {
    const dn = dartClassName(name);
    const df = d.structs.get(dn);
    if (!df) {
      errors.push(`struct ${name}: no Dart Struct ${dn}`);
      continue;
    }
    const cn = fields.map((f) => f.name).join(', ');
    const dnames = df.map((f) => f.name).join(', ');
    if (cn !== dnames) {
      errors.push(`struct ${name}: fields differ — C: [${cn}] Dart: [${dnames}]`);
      continue;
    }
    fields.forEach((f, i) => {
      const g = df[i];
      const where = `struct ${name}.${f.name}`;
      if (f.dims.length) {
        const arr = g.annotations.find((a) => a.name === 'Array');
        const dims = arr ? arr.arg.split(',').map((s) => s.trim()).map((s) => (/^-?\d+$/.test(s) ? Number(s) : d.constants.get(s) ?? NaN)) : [];
        if (!arr || dims.join(',') !== f.dims.join(',')) errors.push(`${where}: C array [${f.dims.join('][')}] but Dart @Array(${arr ? arr.arg : '—'})`);
        const el = g.dartType.match(/^Array<(\w+)>$/);
        const ok = dartNativeFor({ base: f.type.base, ptr: f.type.ptr }, c);
        if (!el || !ok.includes(el[1])) errors.push(`${where}: element type ${fmt(f.type)} in C but ${g.dartType} in Dart (expected Array<${ok.join(' | ')}>)`);
        return;
      }
      const ok = dartNativeFor(f.type, c);
      // Pointer and nested-struct fields carry their type; primitives an annotation.
      const carried = g.dartType.startsWith('Pointer<') || d.structs.has(g.dartType);
      const native = carried ? g.dartType : g.annotations.find((a) => NATIVE_NAMES.has(a.name))?.name;
      if (!native || !ok.includes(native)) errors.push(`${where}: ${fmt(f.type)} in C but ${native ? '@' + native + ' ' : ''}${g.dartType} in Dart (expected ${ok.join(' | ')})`);
      else if (!carried && dartSideOf(native) !== g.dartType) {
        errors.push(`${where}: @${native}() needs Dart type ${dartSideOf(native)}, not ${g.dartType}`);
      }
    });
  }
  for (const dn of d.structs.keys()) {
    if (![...c.structs.keys()].some((n) => dartClassName(n) === dn)) errors.push(`struct ${dn}: defined in Dart, no C struct of that name`);
  }

  // Integer constants (#define, enum members).
  for (const [name, v] of c.constants) {
    if (!d.constants.has(name)) errors.push(`constant ${name} = ${v}: missing in Dart`);
    else if (d.constants.get(name) !== v) errors.push(`constant ${name}: ${v} in C but ${d.constants.get(name)} in Dart`);
  }
  for (const [name] of d.constants) if (!c.constants.has(name)) errors.push(`constant ${name}: defined in Dart, not in C`);
  return errors;
}

/** Function prototypes of a header as comparable strings (for header twins). */
export function prototypes(model) {
  return [...model.functions].map(([n, f]) => `${fmt(f.ret)} ${n}(${f.params.map((p) => fmt(p.type)).join(', ')})`).sort();
}
