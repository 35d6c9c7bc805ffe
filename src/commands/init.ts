// `pitr init`: binds the repository to this cluster, encrypted to PITR_ENCRYPT_RECIPIENTS when
// set. Idempotent for the same cluster and recipients; --change-recipients records others.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { describePostgresSettings, postgresSettings } from '../cli/launcher.js';
import { identityFromDatabase, identityFromDataDir } from '../pg/cluster-identity.js';
import { serverConnection } from '../pg/connection.js';
import { isDataDir } from '../pg/control-file.js';
import { dataDirOwner } from '../pg/data-dir.js';
import { assertSameCluster, assertSameRecipients, bindIdentity, changeRecipients, readIdentity } from '../repository/identity.js';
import { openStorage } from '../storage/open.js';
import { VERSION } from '../version.js';

async function initCommand({ config, log }: CommandContext, args: { 'change-recipients'?: boolean }): Promise<void> {
  const storage = await openStorage(config, { create: true, newOwner: dataDirOwner(config.pgdata) });
  const source = config.pgdata && isDataDir(config.pgdata) ? `data directory ${config.pgdata}` : 'the database';
  const cluster = source.startsWith('data')
    ? await identityFromDataDir(config.pgdata!)
    : await identityFromDatabase(serverConnection(config));
  let identity = await readIdentity(storage);
  let created = false;
  const before = identity?.encryption?.recipients;
  if (!identity) ({ identity, created } = await bindIdentity(storage, cluster, VERSION, source, config.recipients));
  assertSameCluster(identity, cluster, storage, source);
  if (args['change-recipients']) identity = await changeRecipients(storage, identity, config.recipients);
  else assertSameRecipients(identity, config.recipients, storage);
  const recipients = identity.encryption?.recipients ?? null;
  const changed = !created && (before ?? null)?.join(' ') !== recipients?.join(' ');

  const settings = postgresSettings(config);
  const summary = { repository: storage.url, created, ...cluster, encryptedTo: recipients, recipientsChanged: changed, ...settings };
  log.info(
    summary,
    created ? 'repository initialised' : changed ? 'recipients changed' : 'repository already initialised for this cluster',
  );
  process.stdout.write(
    config.json
      ? `${JSON.stringify(summary)}\n`
      : `${created ? 'initialised' : 'already initialised'}: ${storage.url} for cluster ${cluster.systemIdentifier} ` +
          `(PostgreSQL ${cluster.pgVersion}, ${cluster.walSegmentSize / 1048576} MiB WAL segments)\n` +
          `${recipients ? `encrypted to ${recipients.join(', ')}` : 'stored in the clear (no PITR_ENCRYPT_RECIPIENTS)'}` +
          `${changed ? ' from now on; objects stored before keep their keys' : ''}\n` +
          describePostgresSettings(settings),
  );
}

export const command = defineCommand({
  name: 'init',
  describe: 'bind the repository to this cluster, encrypted to PITR_ENCRYPT_RECIPIENTS when set (idempotent)',
  options: {
    'change-recipients': {
      type: 'boolean',
      describe: 'record PITR_ENCRYPT_RECIPIENTS (or none) as the keys every push encrypts to from now on: key rotation',
    },
  },
  handler: initCommand,
});
