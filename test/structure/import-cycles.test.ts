// No module under lib/ or bench/ reaches itself through its imports. Every
// `import ... from` and `export ... from` counts, `import type` too: a
// type-only cycle costs nothing at run time, but it still ties two files
// into one unit a reader cannot take in separately (and one `type` keyword
// dropped makes it a real one, evaluated half-initialised).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The checkout (this file runs as dist/test/structure/import-cycles.test.js). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return tsFiles(path);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The files `file` imports or re-exports from, among the repository's own .ts files. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  for (const s of source.statements) {
    const spec = (ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) ? s.moduleSpecifier : undefined;
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) continue;
    const target = resolve(dirname(file), spec.text.replace(/\.js$/, '.ts'));
    if (existsSync(target)) out.push(target);
  }
  return out;
}

/** Each strongly connected set of more than one file (or a file importing itself): one cycle through it, and all its files. */
function cycles(graph: Map<string, string[]>): Array<{ cycle: string[]; members: string[] }> {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: Array<{ cycle: string[]; members: string[] }> = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const members = new Set<string>();
    for (let w = ''; w !== v;) {
      w = stack.pop()!;
      onStack.delete(w);
      members.add(w);
    }
    if (members.size > 1 || (graph.get(v) ?? []).includes(v)) found.push({ cycle: pathWithin(graph, members, v), members: [...members].sort() });
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** A shortest way from `start` back to itself inside `members` (breadth first). */
function pathWithin(graph: Map<string, string[]>, members: Set<string>, start: string): string[] {
  const from = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(from.get(path[0])!);
        return [...path, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

test('no import cycles among the .ts files of lib/ and bench/ (type-only imports included)', () => {
  const files = ['lib', 'bench'].flatMap((d) => tsFiles(join(ROOT, d)));
  assert.ok(files.length > 50, `found only ${files.length} .ts files under ${ROOT}lib and bench`);
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const rel = (f: string): string => relative(ROOT, f);
  const named = cycles(graph).map(({ cycle, members }) => `${cycle.map(rel).join(' -> ')} (all of: ${members.map(rel).join(', ')})`);
  assert.deepEqual(named, [], `import cycles:\n  ${named.join('\n  ')}`);
});
