// Which timeline branch a restore follows and why, the branches it leaves aside, and the
// branch that reaches a target the followed one cannot. A repository can hold two histories
// after one point (a restored copy archived its new timeline while the primary kept writing
// on the old one); a restore must say which one it replays, never pick one silently. Pure.
import { InputError, NotFoundError } from '../errors.js';
import { archivedPast, describeArchived, type TimelineBranch } from '../repository/timeline-branches.js';
import { formatLsn, parseLsn } from '../wal/names.js';
import { isOnHistory, rootHistory } from '../wal/timeline-history.js';
import { planRestore, type PlanInput, type RestorePlan } from './plan.js';
import { describeTarget, type TimelineChoice } from './target.js';

export interface BranchChoice {
  /** The timeline followed, and the timeline and LSN it forked from (null for a root timeline). */
  timeline: number;
  parent: number | null;
  forkLsn: string | null;
  /** Why this one: which --timeline choice picked it. */
  why: string;
  /** Branches this backup could be replayed into (--timeline N) whose WAL this restore does not replay. */
  notFollowed: { timeline: number; detail: string }[];
}

export function explainBranch(
  plan: RestorePlan,
  choice: TimelineChoice,
  branches: TimelineBranch[],
  histories: PlanInput['histories'],
): BranchChoice {
  const parentSpan = plan.history.length > 1 ? plan.history[plan.history.length - 2]! : undefined;
  const notFollowed: BranchChoice['notFollowed'] = [];
  const stopLsn = parseLsn(plan.backup.stopLsn)!;
  for (const branch of branches) {
    if (branch.timeline === plan.timeline) continue;
    const history = histories.get(branch.timeline) ?? (branch.parent === null ? rootHistory(branch.timeline) : undefined);
    // A branch that does not hold this backup's end cannot be followed from it.
    if (!history || !isOnHistory(history, plan.backup.timeline, stopLsn)) continue;
    const ancestor = plan.history.find((s) => s.timeline === branch.timeline);
    if (ancestor?.end != null) {
      // An ancestor matters only when its WAL goes on past the point the followed timeline leaves it.
      const leaves = formatLsn(ancestor.end);
      if (archivedPast(branch, leaves))
        notFollowed.push({
          timeline: branch.timeline,
          detail: `timeline ${branch.timeline} past ${leaves}, where timeline ${plan.timeline} leaves it, ${describeArchived(branch)}`,
        });
      continue;
    }
    notFollowed.push({
      timeline: branch.timeline,
      detail: `timeline ${branch.timeline}${branch.parent === null ? '' : `, forked from ${branch.parent} at ${branch.forkLsn}`}, ${describeArchived(branch)}`,
    });
  }
  return {
    timeline: plan.timeline,
    parent: parentSpan?.timeline ?? null,
    forkLsn: parentSpan?.end != null ? formatLsn(parentSpan.end) : null,
    why: whyChosen(choice, plan),
    notFollowed,
  };
}

function whyChosen(choice: TimelineChoice, plan: RestorePlan): string {
  if (choice === 'current') return "the backup's timeline, --timeline current";
  if (typeof choice === 'number') return `--timeline ${choice}`;
  return plan.timeline === plan.backup.timeline
    ? "the backup's timeline and the newest, --timeline latest"
    : 'the newest timeline, --timeline latest';
}

/** What `pitr restore` prints before it writes anything. */
export function describeBranchChoice(c: BranchChoice): string[] {
  const lines = [`following timeline ${c.timeline}${c.parent === null ? '' : ` (forked from ${c.parent} at ${c.forkLsn})`}: ${c.why}`];
  for (const other of c.notFollowed) lines.push(`not following ${other.detail}: --timeline ${other.timeline} follows it`);
  return lines;
}

/**
 * planRestore, and when the timeline chosen cannot reach the target, the advice that works:
 * the other branches whose WAL does reach it. Otherwise a time after a fork that only the
 * primary's timeline reaches is refused with advice (wait for archiving, --latest) that
 * follows the same wrong branch again.
 */
export function planAcrossBranches(input: PlanInput, branches: TimelineBranch[]): RestorePlan {
  try {
    return planRestore(input);
  } catch (err) {
    if (!(err instanceof NotFoundError || err instanceof InputError)) throw err;
    const reaching = branches.filter((b) => b.timeline !== input.timeline && reaches(input, b.timeline));
    if (reaching.length === 0) throw err;
    const along = describeChoice(input.timeline);
    const others = reaching.map((b) => `timeline ${b.timeline}, ${describeArchived(b)}`).join('; ');
    const Refusal = err instanceof NotFoundError ? NotFoundError : InputError;
    // The plan's own refusal is left out of the message: its advice (wait for archiving,
    // --latest) follows the same branch again. It stays the cause, for --log-level debug.
    throw new Refusal(
      `${describeTarget(input.target)} is not reachable along ${along} but is on another branch, ${others}: ` +
        `restore with --timeline ${reaching[0]!.timeline}`,
      err,
    );
  }
}

function reaches(input: PlanInput, timeline: number): boolean {
  try {
    planRestore({ ...input, timeline });
    return true;
  } catch {
    return false;
  }
}

function describeChoice(choice: TimelineChoice): string {
  if (choice === 'latest') return 'the newest timeline (--timeline latest)';
  if (choice === 'current') return "the backup's timeline (--timeline current)";
  return `timeline ${choice}`;
}
