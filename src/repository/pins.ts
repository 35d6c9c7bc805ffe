// Pinned backups: kept whatever the retention policy says, with the WAL they need to be
// consistent. A manifest is written once and never replaced, so a pin is an object of its own,
// pins/<backup id>.json; unpinning deletes it.
import * as v from 'valibot';
import { hostname } from 'node:os';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import type { Storage } from '../storage/storage.js';

export const PINS_PREFIX = 'pins/';
export const pinKey = (id: string) => `${PINS_PREFIX}${id}.json`;

const pinSchema = v.object({
  format: v.literal(1),
  backup: v.string(),
  pinnedAt: isoTime,
  /** Where the pin was set: `pitr pin` on this host. */
  by: v.string(),
});
export type Pin = v.InferOutput<typeof pinSchema>;

export async function pinBackup(storage: Storage, id: string, now = new Date()): Promise<Pin> {
  const pin: Pin = { format: 1, backup: id, pinnedAt: now.toISOString(), by: hostname() };
  await storage.put(pinKey(id), Buffer.from(`${JSON.stringify(pin, null, 2)}\n`));
  return pin;
}

/** False when the backup was not pinned. */
export async function unpinBackup(storage: Storage, id: string): Promise<boolean> {
  if ((await storage.get(pinKey(id))) === null) return false;
  await storage.delete(pinKey(id));
  return true;
}

/** Read just before a backup is deleted: a pin set after expire read them all still counts. */
export async function isPinned(storage: Storage, id: string): Promise<boolean> {
  return (await storage.get(pinKey(id))) !== null;
}

/** Every pin, by backup id. */
export async function readPins(storage: Storage): Promise<Map<string, Pin>> {
  const { objects } = await storage.list(PINS_PREFIX);
  const pins = await Promise.all(
    objects
      .filter((o) => o.key.endsWith('.json'))
      .map(async (o) => {
        const raw = await storage.get(o.key);
        if (raw === null) return null; // unpinned meanwhile
        return parseJsonDocument(raw.toString('utf8'), pinSchema, {
          what: `${storage.url}${o.key}`,
          fix: 'pin the backup again with pitr pin, or remove the object to unpin it',
        });
      }),
  );
  return new Map(pins.filter((p): p is Pin => p !== null).map((p) => [p.backup, p]));
}
