// `pitr init`: binds the repository to this cluster. Idempotent for the same cluster.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { describePostgresSettings, postgresSettings } from '../cli/launcher.js';
import { identityFromDatabase, identityFromDataDir } from '../pg/cluster-identity.js';
import { serverConnection } from '../pg/connection.js';
import { isDataDir } from '../pg/control-file.js';
import { dataDirOwner } from '../pg/data-dir.js';
import { assertSameCluster, bindIdentity, readIdentity } from '../repository/identity.js';
import { openStorage } from '../storage/open.js';
import { VERSION } from '../version.js';

async function initCommand({ config, log }: CommandContext): Promise<void> {
  const storage = await openStorage(config, { create: true, newOwner: dataDirOwner(config.pgdata) });
  const source = config.pgdata && isDataDir(config.pgdata) ? `data directory ${config.pgdata}` : 'the database';
  const cluster = source.startsWith('data')
    ? await identityFromDataDir(config.pgdata!)
    : await identityFromDatabase(serverConnection(config));
  const existing = await readIdentity(storage);
  let created = false;
  if (existing) assertSameCluster(existing, cluster, storage, source);
  else created = (await bindIdentity(storage, cluster, VERSION, source)).created;

  const settings = postgresSettings(config);
  const summary = { repository: storage.url, created, ...cluster, ...settings };
  log.info(summary, created ? 'repository initialised' : 'repository already initialised for this cluster');
  process.stdout.write(
    config.json
      ? `${JSON.stringify(summary)}\n`
      : `${created ? 'initialised' : 'already initialised'}: ${storage.url} for cluster ${cluster.systemIdentifier} ` +
          `(PostgreSQL ${cluster.pgVersion}, ${cluster.walSegmentSize / 1048576} MiB WAL segments)\n` +
          describePostgresSettings(settings),
  );
}

export const command = defineCommand({
  name: 'init',
  describe: 'bind the repository to this cluster (idempotent)',
  handler: initCommand,
});
