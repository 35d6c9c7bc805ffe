// The launcher (bin/pitr, shell) and Node must compute the same invocation fingerprint, or
// nothing done ahead is ever used; and calls that may store elsewhere must not share one.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FINGERPRINT_KEYS, flagsOf, invocationFingerprint } from '../../src/cli/invocation.js';
import { PITR_BIN } from '../../tools/harness/env.js';

const launcher = readFileSync(PITR_BIN, 'utf8');
const keysLine = /^KEYS='([^']*)'/m.exec(launcher)![1]!;
const identityLine = /^IDENTITY=.*$/m.exec(launcher)![0];
const fingerprintFn = /^fingerprint\(\) \{\n[\s\S]*?\n\}\n/m.exec(launcher)![0];

/** The launcher's own fingerprint function, run by /bin/sh (in `cwd`, with `path` as PATH). */
function shellFingerprint(flags: string[], env: Record<string, string>, cwd?: string, path = process.env.PATH!): string {
  const script = `KEYS='${keysLine}'\n${identityLine}\n${fingerprintFn}fingerprint "$@"\nprintf %s "$fp"`;
  return execFileSync('/bin/sh', ['-c', script, 'sh', ...flags], { env: { PATH: path, ...env }, encoding: 'utf8', cwd });
}

const dir = mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-unit-'));
const config = join(dir, 'pitr.env');
writeFileSync(config, 'PITR_REPO=file:///srv/a\n');

describe('invocation fingerprint', () => {
  it('the launcher lists the same variables as Node', () => {
    expect(keysLine.split(/\s+/)).toEqual([...FINGERPRINT_KEYS]);
  });

  it.each([
    ['no flags, no variables', [], {}],
    ['flags and a config file', ['--config', config, '--log-level=warn'], { PITR_REPO: 'file:///x' }],
    ['--config=FILE', [`--config=${config}`], {}],
    ['PITR_CONFIG', [], { PITR_CONFIG: config }],
    ['every variable, odd values', ['--repo', 's3://b/p q'], Object.fromEntries(FINGERPRINT_KEYS.map((k, i) => [k, `v${i} 'x' "y" \\z é`]))],
    ['an empty value', [], { PITR_REPO: '' }],
  ] as [string, string[], Record<string, string>][])('agrees with the launcher: %s', (_what, flags, env) => {
    expect(shellFingerprint(flags, env)).toBe(invocationFingerprint(flags, env));
  });

  it('is kept per data directory and reused only for identical inputs', () => {
    const dataDir = mkdtempSync(join(dir, 'data-'));
    mkdirSync(join(dataDir, 'pg_wal', 'pitr'), { recursive: true });
    const [a, b] = [{ PITR_REPO: 'file:///a  ' }, { PITR_REPO: 'file:///b' }];
    expect(shellFingerprint(['--log-level', 'warn'], a, dataDir)).toBe(invocationFingerprint(['--log-level', 'warn'], a));
    expect(readdirSync(join(dataDir, 'pg_wal', 'pitr'))).toEqual(['.fingerprint']); // renamed into place, nothing left aside
    // Without sha256sum on PATH, only the kept value can answer: for the same inputs it does...
    expect(shellFingerprint(['--log-level', 'warn'], a, dataDir, '/nonexistent')).toBe(invocationFingerprint(['--log-level', 'warn'], a));
    // ...and for any other inputs it does not.
    expect(shellFingerprint(['--log-level', 'warn'], b, dataDir, '/nonexistent')).toBe('');
    expect(shellFingerprint([], a, dataDir, '/nonexistent')).toBe('');
  });

  it('differs whenever the call could store elsewhere', () => {
    const base = invocationFingerprint([], { PITR_REPO: 'file:///a' });
    expect(invocationFingerprint([], { PITR_REPO: 'file:///b' })).not.toBe(base);
    expect(invocationFingerprint(['--repo', 'file:///a'], { PITR_REPO: 'file:///a' })).not.toBe(base);
    expect(invocationFingerprint([], { PITR_REPO: 'file:///a', AWS_ENDPOINT_URL: 'http://x' })).not.toBe(base);
    // Values that would read alike if joined without lengths.
    expect(invocationFingerprint([], { PITR_REPO: 'a\neAWS_REGION=1:b' })).not.toBe(invocationFingerprint([], { PITR_REPO: 'a', AWS_REGION: 'b' }));
    const before = invocationFingerprint(['--config', config], {});
    writeFileSync(config, 'PITR_REPO=file:///srv/b\n');
    expect(invocationFingerprint(['--config', config], {})).not.toBe(before);
  });

  it('takes flags only from calls of the launcher shape', () => {
    expect(flagsOf(['--repo', 'x', 'wal-push', 'pg_wal/1'], 'wal-push')).toEqual(['--repo', 'x']);
    expect(flagsOf(['wal-fetch', 'A', 'B'], 'wal-fetch')).toEqual([]);
    expect(flagsOf(['wal-push', '--repo', 'x', 'pg_wal/1'], 'wal-push')).toBeNull();
  });
});
