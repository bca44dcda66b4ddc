// Syntax check of Dart sources with tree-sitter (no Dart SDK needed).
//
// Grammar: tree-sitter-dart as prebuilt wasm. The default comes from
// @repomix/tree-sitter-wasms 0.1.17 (a maintained fork of tree-sitter-wasms):
// the grammar in tree-sitter-wasms 0.1.13 — the last version of that package
// that ships Dart — rejects `external` instance field declarations
// (`@Int32() external int kind;`), which every dart:ffi Struct needs.
// test/dart_syntax.test.mjs pins that gap down so it stays documented.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Parser, Language } from 'web-tree-sitter';

const require = createRequire(import.meta.url);

export const GRAMMARS = {
  repomix: require.resolve('@repomix/tree-sitter-wasms/out/tree-sitter-dart.wasm'),
  'tree-sitter-wasms': require.resolve('tree-sitter-wasms/out/tree-sitter-dart.wasm'),
};
export const DEFAULT_GRAMMAR = 'repomix';

let initialised = false;
const languages = new Map();

export async function dartParser(grammar = DEFAULT_GRAMMAR) {
  if (!initialised) {
    await Parser.init();
    initialised = true;
  }
  const wasm = GRAMMARS[grammar] ?? grammar;
  if (!languages.has(wasm)) languages.set(wasm, await Language.load(wasm));
  const parser = new Parser();
  parser.setLanguage(languages.get(wasm));
  return parser;
}

/** Every ERROR or MISSING node of a parse, as {kind, line, column, text}. */
export function syntaxProblems(tree) {
  const out = [];
  const cursor = tree.walk();
  let descend = true;
  for (;;) {
    const n = cursor.currentNode;
    if (descend && (n.isError || n.isMissing)) {
      out.push({
        kind: n.isMissing ? `MISSING ${n.type}` : 'ERROR',
        line: n.startPosition.row + 1,
        column: n.startPosition.column + 1,
        text: n.text.slice(0, 60).replace(/\s+/g, ' '),
      });
    }
    if (descend && cursor.gotoFirstChild()) continue;
    if (cursor.gotoNextSibling()) {
      descend = true;
      continue;
    }
    if (!cursor.gotoParent()) break;
    descend = false;
  }
  // Belt and braces: a tree that says it has an error must report one.
  if (out.length === 0 && tree.rootNode.hasError) out.push({ kind: 'ERROR', line: 1, column: 1, text: '(tree has an error)' });
  return out;
}

/** Parses Dart source text; returns the list of problems (empty = fine). */
export async function checkDartSource(source, grammar) {
  const parser = await dartParser(grammar);
  const tree = parser.parse(source);
  try {
    return syntaxProblems(tree);
  } finally {
    tree.delete();
    parser.delete();
  }
}

const SKIP_DIRS = new Set(['node_modules', '.dart_tool', 'build', '.git', 'Pods', '.symlinks', 'tool']);

/** Every .dart file under root (skipping build output and this tool). */
export function findDartFiles(root) {
  const files = [];
  (function walk(dir) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(path.join(dir, e.name));
      } else if (e.isFile() && e.name.endsWith('.dart')) files.push(path.join(dir, e.name));
    }
  })(root);
  return files.sort();
}

/** Checks files; returns [{file, problems}] for the failing ones only. */
export async function checkDartFiles(files, grammar) {
  const failures = [];
  for (const file of files) {
    const problems = await checkDartSource(fs.readFileSync(file, 'utf8'), grammar);
    if (problems.length) failures.push({ file, problems });
  }
  return failures;
}
