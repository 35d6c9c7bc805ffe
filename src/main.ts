// Entry point. wal-push and wal-fetch take the lean path; everything else loads yargs.
// First of all: the environment as started, for the invocation fingerprint.
import './launcher/fingerprint.js';

// The AWS SDK prints a Node-version notice on every process; it would flood PostgreSQL's log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const argv = process.argv.slice(2);
const { tryFastPath } = await import('./cli/fast.js');
if (!(await tryFastPath(argv))) {
  const { runCli } = await import('./cli/full.js');
  await runCli(argv);
}
