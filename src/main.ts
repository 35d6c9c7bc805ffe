// Entry point. wal-push and wal-fetch take the lean path; everything else loads yargs.
const argv = process.argv.slice(2);
const { tryFastPath } = await import('./cli/fast.js');
if (!(await tryFastPath(argv))) {
  const { runCli } = await import('./cli/full.js');
  await runCli(argv);
}
