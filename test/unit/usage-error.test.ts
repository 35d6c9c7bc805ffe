import { describe, expect, it } from 'vitest';
import { nearest, usageMessage } from '../../src/cli/usage-error.js';

const COMMANDS = ['init', 'wal-push', 'wal-fetch', 'backup', 'restore', 'promote', 'list', 'status'];

describe('nearest', () => {
  it('finds a typo of one or two letters, a swap, and the start of a name', () => {
    expect(nearest('restor', COMMANDS)).toBe('restore');
    expect(nearest('stauts', COMMANDS)).toBe('status');
    expect(nearest('wal-psuh', COMMANDS)).toBe('wal-push');
    expect(nearest('prom', COMMANDS)).toBe('promote');
  });
  it('suggests nothing for a word that resembles no name', () => {
    expect(nearest('frobnicate', COMMANDS)).toBeUndefined();
    expect(nearest('x', COMMANDS)).toBeUndefined();
  });
});

describe('usageMessage', () => {
  const options = ['target-dir', 'latest', 'force', 'repo', 'help'];
  it('names an unknown option before the required one yargs says is missing', () => {
    const args = ['restore', '--targt-dir', 'x'];
    expect(usageMessage('Missing required argument: target-dir', { args, command: 'restore', commands: COMMANDS, options })).toBe(
      'unknown option --targt-dir; did you mean --target-dir? (pitr restore --help shows usage)',
    );
  });
  it('takes --no-<flag> for a known flag, and nothing after a lone --', () => {
    const args = ['restore', '--no-force', '--', '--whatever'];
    expect(usageMessage('Unknown argument: --whatever', { args, command: 'restore', commands: COMMANDS, options })).toBe(
      'unexpected argument --whatever (pitr restore --help shows usage)',
    );
  });
  it("puts yargs' multi-line messages on one line", () => {
    const message = 'Invalid values:\n  Argument: action, Given: "bogus", Choices: "promote", "pause", "shutdown"';
    const args = ['restore', '--action', 'bogus'];
    expect(usageMessage(message, { args, command: 'restore', commands: COMMANDS, options: ['action'] })).toBe(
      'Invalid values: Argument: action, Given: "bogus", Choices: "promote", "pause", "shutdown" (pitr restore --help shows usage)',
    );
  });
});
