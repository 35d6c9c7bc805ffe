// The two quotings a command PostgreSQL runs needs: the words of a shell command line, inside a
// postgresql.conf string literal (archive_command, restore_command).

/** A postgresql.conf string literal: quotes doubled, backslashes escaped. */
export function confQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** One word of a /bin/sh command line, quoted only when it needs to be. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
