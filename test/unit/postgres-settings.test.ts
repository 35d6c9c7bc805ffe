// The archive_command/restore_command lines `pitr init` prints: everything PostgreSQL, running
// them with its own environment, needs on the line, and nothing that is only this call's.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { START_ENV } from '../../src/launcher/fingerprint.js';
import { postgresSettings } from '../../src/cli/launcher.js';
import { loadConfig } from '../../src/config/config.js';

function configFile(text: string): string {
  const path = join(mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-unit-')), 'my pitr.env');
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

describe('postgresSettings', () => {
  afterEach(() => {
    delete START_ENV.AWS_ACCESS_KEY_ID;
  });

  it('names the config file absolutely, and the settings given by flag or environment, but not the data directory or log level', () => {
    const file = configFile('PITR_COMPRESS=none\n');
    const config = loadConfig(
      {
        config: relative(process.cwd(), file),
        repo: 'file:///srv/pitr',
        's3-force-path-style': true,
        pgdata: '/var/lib/pg',
        'log-level': 'debug',
      },
      { PITR_ARCHIVE_LOOKAHEAD: '4' },
    );
    const pitr = `/opt/pitr/bin/pitr --config '${file}' --repo file:///srv/pitr --s3-force-path-style --archive-lookahead 4`;
    expect(postgresSettings(config, '/opt/pitr/bin/pitr')).toEqual({
      archiveCommand: `archive_command = '${pitr.replace(/'/g, "''")} wal-push %p'`,
      restoreCommand: `restore_command = '${pitr.replace(/'/g, "''")} wal-fetch %f %p'`,
      credentialsOnlyInEnvironment: [],
    });
  });

  it('names S3 credentials this call had only from its environment: PostgreSQL will not have them', () => {
    START_ENV.AWS_ACCESS_KEY_ID = 'AKIA-from-the-shell';
    const bare = loadConfig({ repo: 's3://bucket/db1' }, {});
    expect(postgresSettings(bare, '/opt/pitr/bin/pitr').credentialsOnlyInEnvironment).toEqual(['AWS_ACCESS_KEY_ID']);
    const inFile = loadConfig({ config: configFile('AWS_ACCESS_KEY_ID=AKIA-in-the-file\n'), repo: 's3://bucket/db1' }, {});
    expect(postgresSettings(inFile, '/opt/pitr/bin/pitr').credentialsOnlyInEnvironment).toEqual([]);
    // file:// needs no credentials.
    expect(postgresSettings(loadConfig({ repo: 'file:///srv/pitr' }, {}), '/x').credentialsOnlyInEnvironment).toEqual([]);
  });
});
