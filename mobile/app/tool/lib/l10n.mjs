// lib/utils/l10n.dart: every message exists in every locale (ru, en), none extra.
export function checkL10n(text) {
  const em = text.match(/enum\s+Msg\s*\{([^}]*)\}/);
  if (!em) return ['l10n.dart: enum Msg not found'];
  const keys = em[1].split(',').map((s) => s.trim()).filter(Boolean);
  const errors = [];
  const locales = [...text.matchAll(/'(\w{2})':\s*\{([\s\S]*?)\n\s*\},/g)];
  if (locales.length < 2) errors.push('l10n.dart: expected at least the ru and en maps');
  for (const [, loc, body] of locales) {
    const have = new Set([...body.matchAll(/Msg\.(\w+)\s*:/g)].map((m) => m[1]));
    for (const k of keys) if (!have.has(k)) errors.push(`l10n.dart: '${loc}' lacks Msg.${k}`);
    for (const k of have) if (!keys.includes(k)) errors.push(`l10n.dart: '${loc}' has unknown Msg.${k}`);
  }
  for (const loc of ['ru', 'en']) if (!locales.some((l) => l[1] === loc)) errors.push(`l10n.dart: no '${loc}' map`);
  return errors;
}
