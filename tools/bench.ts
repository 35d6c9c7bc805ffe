// `npm run bench`: not a test; numbers are printed, nothing is asserted. Six parts, the first
// four side by side with pgBackRest (Debian package, posix repository, lz4) in the same run:
//   wal     what PostgreSQL pays per WAL segment (wal-push / wal-fetch as whole processes);
//   backup  backup and restore of a ~1 GB pgbench database, restore to a promoted server, and
//           verify of the whole repository (MiB/s, against pgbackrest verify);
//   recovery  archive recovery of ~1 GB of WAL through wal-fetch (file://, S3) against cp;
//   sustained  archiving under 60 s bulk-insert and TPC-B loads: backlog, drain, tps cost;
//   scale   list, expire --dry-run, restore planning and verify of a synthetic repository of
//           100,000 WAL objects and 200 backups (file://, S3): wall time and peak RSS, and
//           the agent's health watch on it: time, CPU and RSS per tick;
//   agent   pitr agent idle for 10 minutes (RSS, CPU seconds), and the .ready backlog of a
//           bulk load begun with the resident archiver gone, without and with the agent;
//   api     the agent's HTTP routes under 20 clients on 100,000 WAL objects and 1,000 backups:
//           latency p50/p99, and its RSS.
// BENCH_PARTS=wal,backup,... selects parts; BENCH_SEGMENTS (30), BENCH_SCALE (70 = ~1 GB
// database), BENCH_RECOVERY_SCALE (85 = ~1 GB of WAL), BENCH_LOAD_SECONDS (60),
// BENCH_SCALE_WAL (100000) and BENCH_SCALE_BACKUPS (200) size them, BENCH_AGENT_IDLE_SECONDS
// (600) and BENCH_AGENT_LOAD_SECONDS (20) the agent part;
// BENCH_WAYS and BENCH_LOADS narrow the sustained part (label prefixes, or whole labels ending in $), BENCH_ROUNDS (2) repeats it;
// BENCH_SERIES=1 prints each run's .ready backlog samples (when the maximum happened) to stderr.
// BENCH_KEEP=1 keeps the files. Needs the Debian packages pgbackrest and time.
import { existsSync } from 'node:fs';
import { benchAgent } from './bench/agent.js';
import { benchApi } from './bench/api.js';
import { benchBackup } from './bench/backup.js';
import { say } from './bench/common.js';
import { makeTempRoot, removeTempRoot } from './harness/env.js';
import { benchRecovery } from './bench/recovery.js';
import { benchScale } from './bench/scale.js';
import { benchSustained } from './bench/sustained.js';
import { benchWal } from './bench/wal.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'; // the harness uses the SDK too
for (const need of ['/usr/bin/time', '/usr/bin/pgbackrest']) {
  if (!existsSync(need)) {
    say(`bench needs ${need}: apt-get install -y time pgbackrest`);
    process.exit(2);
  }
}
const parts = (process.env.BENCH_PARTS ?? 'wal,backup,recovery,sustained,scale,agent,api').split(',');
const root = await makeTempRoot('bench');
try {
  if (parts.includes('wal')) await benchWal(Number(process.env.BENCH_SEGMENTS ?? 30));
  if (parts.includes('backup')) await benchBackup(Number(process.env.BENCH_SCALE ?? 70));
  if (parts.includes('recovery')) await benchRecovery(Number(process.env.BENCH_RECOVERY_SCALE ?? 85)); // ~1 GB of WAL
  if (parts.includes('sustained')) await benchSustained(Number(process.env.BENCH_LOAD_SECONDS ?? 60));
  if (parts.includes('scale'))
    await benchScale(Number(process.env.BENCH_SCALE_WAL ?? 100_000), Number(process.env.BENCH_SCALE_BACKUPS ?? 200));
  if (parts.includes('agent'))
    await benchAgent(
      Number(process.env.BENCH_AGENT_IDLE_SECONDS ?? 600),
      Number(process.env.BENCH_AGENT_LOAD_SECONDS ?? 20),
      Number(process.env.BENCH_ROUNDS ?? 2),
    );
  if (parts.includes('api'))
    await benchApi(
      Number(process.env.BENCH_API_WAL ?? 100_000),
      Number(process.env.BENCH_API_BACKUPS ?? 1000),
      Number(process.env.BENCH_API_SECONDS ?? 30),
    );
} finally {
  if (process.env.BENCH_KEEP) say(`kept ${root}`);
  else await removeTempRoot(root);
}
