// The benchmarks' --help is true: it names every flag the script takes (read
// from the flags it hands benchFlags), exits 0 and builds nothing; a flag it
// does not take is one line and exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BENCHES = ['flood', 'serve', 'soak'];

/** The flags in the benchFlags(...) call of bench/NAME.ts. */
function flagsOf(name: string): string[] {
  const source = readFileSync(new URL(`../../../bench/${name}.ts`, import.meta.url), 'utf8');
  const call = source.slice(source.indexOf('benchFlags('));
  const options = call.slice(call.indexOf('`, {'), call.indexOf('});'));
  return [...options.matchAll(/^ {2}'?([\w-]+)'?: \{ type:/gm)].map((m) => m[1]);
}

for (const name of BENCHES) {
  test(`bench/${name}: --help lists every flag and exits 0; an unknown flag is one line, exit 2`, () => {
    const script = fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url));
    const help = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^usage: npm run /);
    const flags = flagsOf(name);
    assert.ok(flags.length >= 5, `flags read from the source: ${flags}`);
    for (const flag of flags) assert.match(help.stdout, new RegExp(`^ {2}--${flag}\\b`, 'm'), `--help names --${flag}`);
    const bad = spawnSync(process.execPath, [script, '--no-such-flag'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /--no-such-flag.*\(--help lists the flags\)/);
  });
}
