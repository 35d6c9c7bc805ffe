// `pitr unpin ID`: the backup is again the retention policy's to keep or expire.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { unpinBackup } from '../repository/pins.js';
import { openStorage } from '../storage/open.js';
import { existingBackup } from './pin.js';

async function unpinCommand({ config }: CommandContext, args: { id: string }): Promise<void> {
  const storage = await openStorage(config);
  // A pin whose backup is gone (expire removes those) is unpinned all the same.
  const removed = await unpinBackup(storage, args.id);
  if (!removed) await existingBackup(storage, args.id); // an unknown id is an error; a backup not pinned is not
  process.stdout.write(
    config.json
      ? `${JSON.stringify({ backup: args.id, pinned: false, wasPinned: removed })}\n`
      : `backup ${args.id} ${removed ? 'unpinned' : 'was not pinned'}: the retention policy applies to it\n`,
  );
}

export const command = defineCommand({
  name: 'unpin',
  describe: 'let the retention policy expire a pinned backup again',
  positionals: ['id'],
  handler: unpinCommand,
});
