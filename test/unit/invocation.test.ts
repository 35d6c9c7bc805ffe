// The launcher (bin/pitr, shell) and Node must compute the same invocation fingerprint, or
// nothing done ahead is ever used; and calls that may store elsewhere must not share one.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AWS_ENV_EXEMPT, AWS_ENV_KEYS, FINGERPRINT_KEYS, flagsOf, invocationFingerprint } from '../../src/launcher/fingerprint.js';
import { PITR_BIN, ROOT } from '../../tools/harness/env.js';

const launcher = readFileSync(PITR_BIN, 'utf8');
const keysLine = /^KEYS='([^']*)'/m.exec(launcher)![1]!;
const identityLine = /^IDENTITY=.*$/m.exec(launcher)![0];
const shellFn = (name: string) => new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?\\n\\}\\n`, 'm').exec(launcher)![0];
const functions = ['fingerprint', 'config_inputs', 'unquote', 'under_home'].map(shellFn).join('');
const localeLines = /^if \[ -n "\$\{LC_ALL\+x\}" \].*\nLC_ALL=C\n/m.exec(launcher)![0];

/** The launcher's own fingerprint function, run by /bin/sh (or `shell`; in `cwd`, with `path` as PATH): the fingerprint and what the shell printed on stderr. */
function shellFingerprintRun(
  flags: string[],
  env: Record<string, string>,
  cwd?: string,
  path = process.env.PATH!,
  shell = '/bin/sh',
): { fp: string; stderr: string } {
  const script = `${localeLines}KEYS='${keysLine}'\n${identityLine}\nnl='\n'\n${functions}fingerprint "$@"\nprintf %s "$fp"`;
  const res = spawnSync(shell, ['-c', script, 'sh', ...flags], { env: { PATH: path, HOME: home, ...env }, encoding: 'utf8', cwd });
  if (res.status !== 0) throw new Error(`the fingerprint function exited ${res.status}: ${res.stderr}`);
  return { fp: res.stdout, stderr: res.stderr };
}
const shellFingerprint = (...args: Parameters<typeof shellFingerprintRun>) => shellFingerprintRun(...args).fp;

const dir = mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-unit-'));
const config = join(dir, 'pitr.env');
/** A home without .aws: the tests' default HOME (without one there is no fast path at all). */
const home = join(dir, 'home');
mkdirSync(home);
const fingerprintOf = (flags: readonly string[], env: NodeJS.ProcessEnv) => invocationFingerprint(flags, { HOME: home, ...env });
writeFileSync(config, 'PITR_REPO=file:///srv/a\n');
const awsConfig = join(dir, 'aws-config');
writeFileSync(awsConfig, '[default]\nendpoint_url = http://127.0.0.1:9000\n');
const namingConfig = join(dir, 'naming.env');
writeFileSync(namingConfig, `PITR_REPO=s3://b/p\nAWS_CONFIG_FILE=${awsConfig}\n`);
const quotedConfig = join(dir, 'quoted.env');
writeFileSync(quotedConfig, `PITR_REPO=s3://b/p\nAWS_CONFIG_FILE="${awsConfig}"\nAWS_SHARED_CREDENTIALS_FILE='~/creds'\n`);
const linkedConfig = join(dir, 'linked.env');
symlinkSync(config, linkedConfig);

describe('invocation fingerprint', () => {
  it('the launcher lists the same variables as Node', () => {
    expect(keysLine.split(/\s+/)).toEqual([...FINGERPRINT_KEYS]);
  });

  it('covers every AWS_* variable the installed SDK reads, but its secrets', () => {
    // A new SDK version that reads a new variable (a new endpoint or credential setting)
    // must be looked at: either it changes where objects go (fingerprint it) or it does not.
    // The SDK names the variables it reads as string literals ("AWS_REGION", `AWS_ENDPOINT_URL_${id}`) or env.AWS_X.
    const pattern = '"AWS_[A-Z0-9_]+"|\'AWS_[A-Z0-9_]+\'|env\\.AWS_[A-Z0-9_]+|`AWS_[A-Z0-9_]+';
    const sources = execFileSync('grep', ['-rhoE', pattern, 'node_modules/@aws-sdk', 'node_modules/@smithy'], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const read = new Set(sources.match(/AWS_[A-Z0-9_]+/g));
    expect(read.size).toBeGreaterThan(20); // the scan found the SDK's variables
    const known = new Set<string>([...AWS_ENV_KEYS, ...Object.keys(AWS_ENV_EXEMPT)]);
    expect([...read].filter((n) => !known.has(n)).sort()).toEqual([]);
    for (const secret of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) expect(FINGERPRINT_KEYS).not.toContain(secret);
  });

  it.each([
    ['no flags, no variables', [], {}],
    ['flags and a config file', ['--config', config, '--log-level=warn'], { PITR_REPO: 'file:///x' }],
    ['--config=FILE', [`--config=${config}`], {}],
    ['PITR_CONFIG', [], { PITR_CONFIG: config }],
    [
      'every variable, odd values',
      ['--repo', 's3://b/p q'],
      Object.fromEntries(FINGERPRINT_KEYS.map((k, i) => [k, `v${i} 'x' "y" \\z é`])),
    ],
    ['an empty value', [], { PITR_REPO: '' }],
    ['AWS files from the environment', [], { AWS_CONFIG_FILE: awsConfig, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'missing') }],
    ['AWS files under $HOME', [], { HOME: dir }],
    ['AWS files named in the config file', ['--config', namingConfig], { HOME: dir }],
    ['AWS files named in the config file, quoted, with ~/', ['--config', quotedConfig], { HOME: dir }],
    ['the environment over the config file', ['--config', namingConfig], { AWS_CONFIG_FILE: '', HOME: dir }],
    ['a symlinked config file', ['--config', linkedConfig], {}],
  ] as [string, string[], Record<string, string>][])('agrees with the launcher: %s', (_what, flags, env) => {
    expect(fingerprintOf(flags, env)).not.toBeNull();
    expect(shellFingerprint(flags, env)).toBe(fingerprintOf(flags, env));
  });

  it('agrees under bash in a UTF-8 locale too (where /bin/sh is bash, and PostgreSQL passes its locale on)', () => {
    const env = { HOME: join(dir, 'josé'), LC_ALL: 'C.UTF-8', PITR_REPO: 'file:///srv/dépôt' };
    expect(shellFingerprint([], env, undefined, process.env.PATH, '/bin/bash')).toBe(fingerprintOf([], env));
  });

  it('follows the content of every file the configuration is read from', () => {
    const env = { HOME: dir };
    const before = fingerprintOf(['--config', namingConfig], env);
    writeFileSync(awsConfig, '[default]\nendpoint_url = http://elsewhere:9000\n');
    const after = fingerprintOf(['--config', namingConfig], env);
    expect(after).not.toBe(before);
    expect(shellFingerprint(['--config', namingConfig], env)).toBe(after);
    // ~/.aws/credentials appearing changes it too.
    mkdirSync(join(dir, '.aws'), { recursive: true });
    const home = fingerprintOf([], env);
    writeFileSync(join(dir, '.aws', 'credentials'), '[default]\naws_access_key_id = other\n');
    expect(fingerprintOf([], env)).not.toBe(home);
    expect(shellFingerprint([], env)).toBe(fingerprintOf([], env));
    // A symlinked config file: its target's content counts.
    const linked = fingerprintOf(['--config', linkedConfig], {});
    writeFileSync(config, 'PITR_REPO=file:///srv/c\n');
    expect(fingerprintOf(['--config', linkedConfig], {})).not.toBe(linked);
  });

  it("gives no fast path without HOME: the AWS SDK would read files under the account's home the launcher cannot see", () => {
    expect(invocationFingerprint(['--config', config], {})).toBeNull();
    expect(
      invocationFingerprint(['--config', config], { AWS_CONFIG_FILE: awsConfig, AWS_SHARED_CREDENTIALS_FILE: awsConfig }),
    ).not.toBeNull();
  });

  it('gives no fast path to a config file that names an AWS file in a form the launcher does not read', () => {
    const exported = join(dir, 'exported.env');
    writeFileSync(exported, `export AWS_CONFIG_FILE=${awsConfig}\n`);
    expect(fingerprintOf(['--config', exported], {})).toBeNull();
    const commented = join(dir, 'commented.env');
    writeFileSync(commented, `AWS_CONFIG_FILE=${awsConfig} # the test store\n`);
    expect(fingerprintOf(['--config', commented], {})).toBeNull();
  });

  it('is kept per data directory and reused only for identical inputs', () => {
    const dataDir = mkdtempSync(join(dir, 'data-'));
    mkdirSync(join(dataDir, 'pg_wal', 'pitr'), { recursive: true });
    const [a, b] = [{ PITR_REPO: 'file:///a  ' }, { PITR_REPO: 'file:///b' }];
    expect(shellFingerprint(['--log-level', 'warn'], a, dataDir)).toBe(fingerprintOf(['--log-level', 'warn'], a));
    expect(readdirSync(join(dataDir, 'pg_wal', 'pitr'))).toEqual(['.fingerprint']); // renamed into place, nothing left aside
    // Without sha256sum on PATH, only the kept value can answer: for the same inputs it does...
    expect(shellFingerprint(['--log-level', 'warn'], a, dataDir, '/nonexistent')).toBe(fingerprintOf(['--log-level', 'warn'], a));
    // ...and for any other inputs it does not, quietly: the shell's "not found" would land in PostgreSQL's log on every call.
    for (const run of [
      shellFingerprintRun(['--log-level', 'warn'], b, dataDir, '/nonexistent'),
      shellFingerprintRun([], a, dataDir, '/nonexistent'),
    ]) {
      expect(run.fp).toBe('');
      expect(run.stderr).not.toMatch(/not found/);
    }
  });

  it('differs whenever the call could store elsewhere', () => {
    const base = fingerprintOf([], { PITR_REPO: 'file:///a' });
    expect(fingerprintOf([], { PITR_REPO: 'file:///b' })).not.toBe(base);
    expect(fingerprintOf(['--repo', 'file:///a'], { PITR_REPO: 'file:///a' })).not.toBe(base);
    expect(fingerprintOf([], { PITR_REPO: 'file:///a', AWS_ENDPOINT_URL: 'http://x' })).not.toBe(base);
    // Values that would read alike if joined without lengths.
    expect(fingerprintOf([], { PITR_REPO: 'a\neAWS_REGION=1:b' })).not.toBe(fingerprintOf([], { PITR_REPO: 'a', AWS_REGION: 'b' }));
    const before = fingerprintOf(['--config', config], {});
    writeFileSync(config, 'PITR_REPO=file:///srv/b\n');
    expect(fingerprintOf(['--config', config], {})).not.toBe(before);
  });

  it('takes flags only from calls of the launcher shape', () => {
    expect(flagsOf(['--repo', 'x', 'wal-push', 'pg_wal/1'], 'wal-push')).toEqual(['--repo', 'x']);
    expect(flagsOf(['wal-fetch', 'A', 'B'], 'wal-fetch')).toEqual([]);
    expect(flagsOf(['wal-push', '--repo', 'x', 'pg_wal/1'], 'wal-push')).toBeNull();
  });
});

describe("the launcher's reading of a process's start time", () => {
  it('agrees with Node: records answer only while the archiver that stamped them runs', async () => {
    const { processStartTime } = await import('../../src/archive/records.js');
    const script = `${shellFn('started_at')}started_at "$1" && printf %s "$pstart"`;
    const shell = execFileSync('/bin/sh', ['-c', script, 'sh', String(process.pid)], { encoding: 'utf8' });
    expect(shell).toMatch(/^\d+$/);
    expect(shell).toBe(processStartTime(process.pid));
    // A pid that does not run has none.
    expect(execFileSync('/bin/sh', ['-c', `${script} || printf none`, 'sh', '4194304'], { encoding: 'utf8' })).toBe('none');
  });
});
