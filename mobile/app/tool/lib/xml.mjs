// A minimal, strict XML reader for AndroidManifest.xml and Info.plist:
// elements, attributes, text; comments, <?…?> and <!DOCTYPE> skipped.
// Throws on malformed nesting, so "parses" means well-formed.
export function parseXml(text) {
  const root = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [root];
  const re = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<!\[CDATA\[([\s\S]*?)\]\]>|<\/([\w:.-]+)\s*>|<([\w:.-]+)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  let m;
  while ((m = re.exec(text))) {
    const top = stack[stack.length - 1];
    if (m[1] !== undefined) top.text += m[1];
    else if (m[2]) {
      if (top.name !== m[2]) throw new Error(`XML: </${m[2]}> closes <${top.name}>`);
      stack.pop();
    } else if (m[3]) {
      const attrs = {};
      for (const a of m[4].matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs[a[1]] = a[2] ?? a[3];
      const el = { name: m[3], attrs, children: [], text: '' };
      top.children.push(el);
      if (!m[5]) stack.push(el);
    } else if (m[6] !== undefined) top.text += m[6];
    else if (m[7]) throw new Error(`XML: stray '<' at offset ${m.index}`);
  }
  if (stack.length !== 1) throw new Error(`XML: <${stack[stack.length - 1].name}> is never closed`);
  return root;
}

export function* walk(el) {
  yield el;
  for (const c of el.children) yield* walk(c);
}

/** Converts a parsed plist <dict>/<array>/… element to a JS value. */
export function plistValue(el) {
  switch (el.name) {
    case 'dict': {
      const out = {};
      for (let i = 0; i < el.children.length; i += 2) {
        const k = el.children[i];
        const v = el.children[i + 1];
        if (k.name !== 'key' || !v) throw new Error('plist: <dict> needs <key> and value pairs');
        out[k.text.trim()] = plistValue(v);
      }
      return out;
    }
    case 'array':
      return el.children.map(plistValue);
    case 'string':
      return el.text;
    case 'true':
      return true;
    case 'false':
      return false;
    case 'integer':
      return Number(el.text);
    default:
      return el.text;
  }
}
