// The shipped monitoring files (deploy/prometheus, deploy/grafana) use only the metrics the
// agent exports (src/api/metrics.ts), plus Prometheus' own `up`; every alert says how bad it is
// and what to do; promtool accepts the rules and the example scrape config, and the alerts fire
// on the series that should raise them (test/unit/fixtures/pitr-alerts.promtool.yml).
import { execa } from 'execa';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { agentMetrics } from '../../src/api/metrics.js';
import { ROOT, tempDir } from '../../tools/harness/env.js';

const ALERTS = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const SCRAPE = join(ROOT, 'deploy', 'prometheus', 'scrape.yml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'pitr-dashboard.json');
const PROMTOOL_TESTS = join(ROOT, 'test', 'unit', 'fixtures', 'pitr-alerts.promtool.yml');

interface Rule {
  alert?: string;
  record?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  title?: string;
  type?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset']);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords,
 * label names (inside {} or a by/without/on/ignoring list), strings, durations or variables. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has(name!) || /^(inf|nan)$/i.test(name!)) continue;
    names.add(name!);
  }
  return [...names];
}

async function exported(): Promise<Set<string>> {
  const { registry } = agentMetrics();
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
  return new Set([...names, 'up']);
}

const rulesOf = (doc: { groups: { name: string; rules: Rule[] }[] }) => doc.groups.flatMap((g) => g.rules);

describe('Prometheus alerting rules (deploy/prometheus/alerts.yml)', () => {
  it('the expression parser finds metric names, not functions, labels or keywords', () => {
    expect(
      metricNames(
        'sum by (job, result) (increase(pitr_job_runs_total{result="failed", instance=~"$instance"}[1d])) > 0 and on(job) up == 0 unless x offset 5m',
      ).sort(),
    ).toEqual(['pitr_job_runs_total', 'up', 'x']);
    expect(metricNames('time() - pitr_last_backup_timestamp_seconds > 25 * 3600')).toEqual(['pitr_last_backup_timestamp_seconds']);
  });

  it('reads only metrics the agent exports, and every alert has expr, for, a severity and what to do', async () => {
    const known = await exported();
    const rules = rulesOf(parse(await readFile(ALERTS, 'utf8')));
    expect(rules.length).toBeGreaterThanOrEqual(10);
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const r of rules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^Pitr[A-Za-z]+$/);
      expect(r.expr, r.alert).toBeTruthy();
      expect(r.for, r.alert).toMatch(/^\d+[smhdwy]$/);
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      // What it means and the first thing to run or read.
      expect(r.annotations?.description, r.alert).toMatch(/`pitr [a-z-]+`|`systemctl|docs\/[a-z-]+\.md|README\.md/);
      for (const n of metricNames(r.expr!)) {
        used.add(n);
        if (!known.has(n)) unknown.push(`${r.alert}: ${n}`);
      }
    }
    expect(unknown).toEqual([]);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    // The situations the rules are there for.
    for (const n of [
      'up',
      'pitr_up',
      'pitr_healthy',
      'pitr_last_backup_timestamp_seconds',
      'pitr_wal_last_archived_timestamp_seconds',
      'pitr_wal_archive_backlog_segments',
      'pitr_last_verify_success_timestamp_seconds',
      'pitr_last_restore_test_success_timestamp_seconds',
      'pitr_last_restore_test_rto_seconds',
      'pitr_restorable_window_start_timestamp_seconds',
      'pitr_job_runs_total',
    ])
      expect(used, n).toContain(n);
  });

  it('promtool accepts the rules and the scrape config, and the rules fire as their tests say', async () => {
    const check = await execa('promtool', ['check', 'rules', ALERTS], { reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    const dir = await tempDir('promtool');
    // The example config names /etc/prometheus/pitr-alerts.yml: check it with the rules here.
    const scrape = (await readFile(SCRAPE, 'utf8')).replace('/etc/prometheus/pitr-alerts.yml', ALERTS);
    await writeFile(join(dir, 'prometheus.yml'), scrape);
    const config = await execa('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { reject: false });
    expect(config.exitCode, config.stdout + config.stderr).toBe(0);
    // promtool test rules compares every annotation of a firing alert: test the rules without them.
    const doc = parse(await readFile(ALERTS, 'utf8'));
    for (const r of rulesOf(doc)) delete r.annotations;
    await writeFile(join(dir, 'alerts.yml'), stringify(doc));
    await copyFile(PROMTOOL_TESTS, join(dir, 'tests.yml'));
    const res = await execa('promtool', ['test', 'rules', 'tests.yml'], { cwd: dir, reject: false });
    expect(res.exitCode, res.stdout + res.stderr).toBe(0);
  });
});

describe('Grafana dashboard (deploy/grafana/pitr-dashboard.json)', () => {
  it('queries only metrics the agent exports, through the ${DS_PROMETHEUS} data source', async () => {
    const known = await exported();
    const dash = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      schemaVersion: number;
      uid: string;
      panels: Panel[];
      templating: { list: { name: string; type: string; query?: unknown }[] };
    };
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dash.uid).toBeTruthy();
    expect(dash.templating.list).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource' }));
    const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    expect(panels.length).toBeGreaterThanOrEqual(7);
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const p of panels) {
      if (p.type === 'row') continue;
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(JSON.stringify(p), p.title).not.toMatch(/"uid":\s*"(?!\$\{DS_PROMETHEUS\})/);
      for (const t of p.targets!) {
        expect(t.expr, p.title).toBeTruthy();
        for (const n of metricNames(t.expr!)) {
          used.add(n);
          if (!known.has(n)) unknown.push(`${p.title}: ${n}`);
        }
      }
    }
    for (const v of dash.templating.list)
      if (v.type === 'query') {
        const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
        const m = /label_values\((\w+)/.exec(q);
        if (m && !known.has(m[1]!)) unknown.push(`variable ${v.name}: ${m[1]}`);
      }
    expect(unknown).toEqual([]);
    for (const n of [
      'pitr_healthy',
      'pitr_last_backup_timestamp_seconds',
      'pitr_restorable_window_start_timestamp_seconds',
      'pitr_wal_archive_backlog_segments',
      'pitr_repository_size_bytes',
      'pitr_job_runs_total',
      'pitr_last_restore_test_rto_seconds',
    ])
      expect(used, n).toContain(n);
  });
});
