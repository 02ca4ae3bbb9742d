// docs/operations.md is the operator's map: it must not drift from what exists. Every alert the rules
// define is in its table with the runbook the alert itself links, every link to a runbook resolves, and
// every provisioned dashboard is described.
import { readdirSync, readFileSync } from 'node:fs';
import { repoPath } from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadDashboards } from '../support/dashboards.ts';

const guide = readFileSync(repoPath('docs/operations.md'), 'utf8');
const rules = readdirSync(repoPath('prometheus/rules'))
  .filter((f) => f.endsWith('.yml'))
  .flatMap((f) => {
    const file = parse(readFileSync(repoPath('prometheus/rules', f), 'utf8')) as {
      groups: { rules: { alert?: string; annotations?: { runbook_url?: string } }[] }[];
    };
    return file.groups.flatMap((g) => g.rules).filter((r) => r.alert);
  });
// The guide's alert table: each row's alert names and its runbook link.
const rows = [...guide.matchAll(/^\| (`.+?) \| \[[^\]]+\]\(runbooks\/([^)]+)\) \|/gm)].map((m) => ({
  alerts: [...m[1]!.matchAll(/`(\w+)`/g)].map((a) => a[1]!),
  runbook: `docs/runbooks/${m[2]}`,
}));

describe('docs/operations.md', () => {
  it('lists every alert with the runbook the alert links', () => {
    expect(rules.length).toBeGreaterThan(0);
    expect(rows.length).toBeGreaterThan(10);
    const missing = rules
      .filter(
        (r) =>
          !rows.some((row) => row.alerts.includes(r.alert!) && row.runbook === r.annotations?.runbook_url),
      )
      .map((r) => `${r.alert} → ${r.annotations?.runbook_url}`);
    expect(missing).toEqual([]);
  });

  it('links only runbooks that exist, and names only alerts that exist', () => {
    const runbooks = new Set(readdirSync(repoPath('docs/runbooks')));
    expect(rows.map((r) => r.runbook.replace('docs/runbooks/', '')).filter((f) => !runbooks.has(f))).toEqual(
      [],
    );
    const alerts = new Set(rules.map((r) => r.alert));
    expect(rows.flatMap((r) => r.alerts).filter((a) => !alerts.has(a))).toEqual([]);
  });

  it('describes every provisioned dashboard', () => {
    for (const d of loadDashboards().values()) {
      const name = d.title.replace('Taskfleet / ', '');
      expect(guide, d.title).toContain(`| **${name}** |`);
    }
  });
});
