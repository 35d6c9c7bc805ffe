// PITR_TIMEZONE, checked by the commands that use calendar days (expire, status), not when the
// configuration loads: an Intl.DateTimeFormat costs 10-20 ms to build, which wal-push would pay.
import { ConfigError } from '../errors.js';

/** `zone` when it is an IANA time zone; a ConfigError naming PITR_TIMEZONE otherwise. */
export function checkedTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new ConfigError(`PITR_TIMEZONE "${zone}" is not a time zone: give an IANA name such as UTC or Europe/Berlin`);
  }
  return zone;
}
