// Usage errors in one line that names the mistake and the nearest real command or option:
// yargs' own "Unknown argument: restor" says neither what kind of word it was nor the fix.

/** The candidate closest to `word` (Damerau-Levenshtein), if close enough to be a typo of it. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  // A third of the word may be wrong (one letter in a short one); a word that starts a name is a typo of it.
  const allowed = Math.max(1, Math.floor(word.length / 3));
  if (best && best.distance <= allowed) return best.candidate;
  return word.length >= 3 ? candidates.find((c) => c.startsWith(word)) : undefined;
}

/** Insertions, deletions, substitutions and swaps of neighbours, each counting one. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

export interface UsageContext {
  /** The arguments as given. */
  args: readonly string[];
  /** The command that was recognised, if any. */
  command?: string;
  commands: readonly string[];
  /** Every option the recognised command (or, without one, the program) takes. */
  options: readonly string[];
}

/** The long options given, by name, up to a lone `--` (after it every word is a positional). */
function givenOptions(args: readonly string[]): string[] {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!);
}

/**
 * yargs' message, with an unknown option or command named and the nearest real one suggested.
 * An unknown option comes first: it is likely why yargs found a required one missing.
 */
export function usageMessage(message: string, { args, command, commands, options }: UsageContext): string {
  const help = command ? `pitr ${command} --help shows usage` : 'pitr --help lists the commands';
  const known = (name: string) => options.includes(name) || (name.startsWith('no-') && options.includes(name.slice(3)));
  const option = givenOptions(args).find((name) => !known(name));
  if (option !== undefined) {
    const guess = nearest(option, options);
    return `unknown option --${option}${guess ? `; did you mean --${guess}?` : ''} (${help})`;
  }
  const word = /^Unknown arguments?: ([^,]*)/.exec(message)?.[1];
  if (word !== undefined && !command) {
    const guess = nearest(word, commands);
    return `unknown command ${word}${guess ? `; did you mean ${guess}?` : ''} (${help})`;
  }
  if (word !== undefined) return `unexpected argument ${word} (${help})`;
  // One line: yargs spreads some messages (invalid choices) over several.
  return `${message.replace(/\s*\n\s*/g, ' ')} (${help})`;
}
