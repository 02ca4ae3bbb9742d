// Writes grafana/dashboards/*.json from the specs (the JSON is committed: Grafana provisions the files,
// and reviews see what changed). A unit test fails when a file differs from what this would write.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDashboards } from './index.ts';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboards');
const dashboards = renderDashboards();
// A dashboard removed from the specs leaves no file behind.
for (const file of readdirSync(out))
  if (file.endsWith('.json') && !dashboards.has(file)) rmSync(join(out, file));
for (const [file, json] of dashboards) writeFileSync(join(out, file), `${JSON.stringify(json, null, 2)}\n`);
// In the repository's own format, so `biome check` passes on the files as written.
const biome = join(out, '..', '..', 'node_modules', '.bin', 'biome');
execFileSync(biome, ['format', '--write', ...[...dashboards.keys()].map((f) => join(out, f))], {
  stdio: 'ignore',
});
process.stdout.write(`${dashboards.size} dashboards written to ${out}\n`);
