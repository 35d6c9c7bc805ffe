// `pitr pin ID` / `pitr unpin ID`: a pinned backup is kept whatever the retention policy says.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { InputError, NotFoundError } from '../errors.js';
import { manifestKey } from '../repository/backups.js';
import { pinBackup } from '../repository/pins.js';
import type { Storage } from '../storage/storage.js';
import { openStorage } from '../storage/open.js';

/** A backup id as manifests spell it, and one that exists. */
export async function existingBackup(storage: Storage, id: string): Promise<void> {
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id === '.' || id === '..')
    throw new InputError(`"${id}" is not a backup id: "pitr list" shows them`);
  if ((await storage.get(manifestKey(id))) === null)
    throw new NotFoundError(`backup ${id} is not in ${storage.url}: "pitr list" shows the complete backups`);
}

async function pinCommand({ config }: CommandContext, args: { id: string }): Promise<void> {
  const storage = await openStorage(config);
  await existingBackup(storage, args.id);
  const pin = await pinBackup(storage, args.id);
  process.stdout.write(config.json ? `${JSON.stringify(pin)}\n` : `backup ${args.id} pinned: expire keeps it and the WAL it needs\n`);
}

export const command = defineCommand({
  name: 'pin',
  describe: 'keep a backup whatever the retention policy says',
  positionals: ['id'],
  handler: pinCommand,
});
