// Where the services spend their CPU: reads the V8 .cpuprofile files that `bench --cpu-prof` makes each
// service write at exit, and prints the functions with the most self time per service (open the files
// themselves in Chrome DevTools or speedscope.app for flame graphs).
//   node bench/src/cpu-profile.ts <dir with .cpuprofile files> [top N]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (name + file:line), in ms, heaviest first. */
export function selfTimes(profile: CpuProfile): { frame: string; ms: number; share: number }[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const ms = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byNode.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url
      .replace(/^file:\/\//, '')
      .replace(/.*node_modules\/\.pnpm\/([^/]+)\/node_modules\//, '$1 ');
    const frame = `${functionName || '(anonymous)'}  ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    ms.set(frame, (ms.get(frame) ?? 0) + dt);
    total += dt;
  });
  return [...ms.entries()]
    .map(([frame, t]) => ({ frame, ms: t, share: total ? t / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  const top = Number(process.argv[3] ?? 25);
  if (!dir) {
    process.stderr.write('usage: cpu-profile.ts <dir> [top N]\n');
    process.exit(2);
  }
  let names: Record<string, string> = {};
  try {
    names = JSON.parse(readFileSync(join(dir, 'pids.json'), 'utf8')) as Record<string, string>;
  } catch {}
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const pid = file.split('.')[3] ?? '';
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const rows = selfTimes(profile);
    const busy = rows.filter((r) => !/^\((idle|program|garbage collector)\)/.test(r.frame));
    const busyMs = busy.reduce((a, r) => a + r.ms, 0);
    process.stdout.write(`\n${names[pid] ?? 'pid'} ${file}: ${(busyMs / 1000).toFixed(1)} s busy\n`);
    const byPackage = new Map<string, number>();
    for (const r of busy) {
      const where = r.frame.split('  ')[1] ?? '';
      const pkg =
        /^(\S+@[\d.]+) /.exec(where)?.[1] ??
        (where.startsWith('node:')
          ? 'node internals'
          : where.includes('/work/')
            ? 'taskfleet'
            : where || '(native)');
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + r.ms);
    }
    const packages = [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
    process.stdout.write(
      `  by package: ${packages.map(([p, t]) => `${p} ${((t / busyMs) * 100).toFixed(0)}%`).join(', ')}\n`,
    );
    for (const r of rows.slice(0, top)) {
      process.stdout.write(
        `  ${r.ms.toFixed(0).padStart(7)} ms ${(r.share * 100).toFixed(1).padStart(5)} %  ${r.frame}\n`,
      );
    }
  }
}
