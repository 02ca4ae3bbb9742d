// The database ceilings: pgbench through the stack's own PgBouncer, running the very statement text the
// task service runs (imported from its repository module, so the two cannot drift) for a read by id
// and for a create with its outbox row. What pgbench cannot take as bind values from a table it gets as
// SQL expressions: the row to read is picked by number from taskfleet_bench.keys (a primary-key lookup
// while planning, see PICKER_FUNCTIONS), new ids are UUIDv7s minted in SQL.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { postgresBinDir } from '@taskfleet/infra';
import { createTaskQuery, GET_TASK_SQL } from '@taskfleet/tasks';
import type { TimelinePoint } from './results.ts';

/** Replace $1…$n with SQL expressions; every placeholder must have one. */
export function bindAsExpressions(text: string, expressions: readonly string[]): string {
  return text.replace(/\$(\d+)/g, (_, i: string) => {
    const expression = expressions[Number(i) - 1];
    if (expression === undefined) throw new Error(`no expression for $${i}`);
    return expression;
  });
}

/** A UUIDv7 of the current time, in SQL (the service mints them in JavaScript). */
export const UUIDV7_NOW_FUNCTION = `create or replace function taskfleet_bench.uuidv7_now() returns uuid
  language sql volatile as $fn$
    select (lpad(to_hex(floor(extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || '7' ||
            substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid
      from (select md5(random()::text) as h) r
  $fn$`;

/**
 * Row pickers for the scripts. Declared immutable (true while a run lasts) so that Postgres evaluates
 * them while planning: the planner then sees constants, exactly as it sees the service's bind values,
 * and prunes to one partition at plan time. As subqueries they would be run-time parameters, and every
 * execution would plan all partitions — a ceiling far below what the service's own statement costs.
 */
export const PICKER_FUNCTIONS = [
  `create or replace function taskfleet_bench.key_owner(k int) returns uuid language sql immutable
     as $fn$ select owner_id from taskfleet_bench.keys where n = k $fn$`,
  `create or replace function taskfleet_bench.key_id(k int) returns uuid language sql immutable
     as $fn$ select id from taskfleet_bench.keys where n = k $fn$`,
  `create or replace function taskfleet_bench.owner(k int) returns uuid language sql immutable
     as $fn$ select id from taskfleet_bench.owners where n = k $fn$`,
];

/** pgbench script: the service's read of one task by owner and id. */
export function readScript(): string {
  const sql = bindAsExpressions(GET_TASK_SQL, [
    'taskfleet_bench.key_owner(:n)',
    'taskfleet_bench.key_id(:n)',
  ]);
  return `\\set n random(1, :tasks)\n${sql};\n`;
}

/** 32 random bytes, as a key digest or request fingerprint is. */
const RANDOM_DIGEST = `decode(md5(random()::text) || md5(random()::text), 'hex')`;

/**
 * pgbench script: the service's create of one task with its outbox event and its Idempotency-Key row,
 * in one statement — what a create sent with a key (as the benchmark's are) costs the database.
 */
export function writeScript(): string {
  const digest = Buffer.alloc(32);
  const { text, values } = createTaskQuery(
    'owner',
    { title: 'pgbench' },
    {},
    { key: digest, fingerprint: digest },
  );
  const expressions = [
    'taskfleet_bench.uuidv7_now()', // task id
    'taskfleet_bench.owner(:u)', // owner
    `'pgbench task'`,
    `''`,
    `'todo'`,
    `'medium'`,
    'null', // due date
    `'{bench}'`,
    'now()', // created_at = updated_at
    'taskfleet_bench.uuidv7_now()', // event id
    'null', // traceparent
    RANDOM_DIGEST, // idempotency key digest
    RANDOM_DIGEST, // request fingerprint
  ];
  if (values.length !== expressions.length) {
    throw new Error(
      `the create statement takes ${values.length} values; the pgbench script binds ${expressions.length}`,
    );
  }
  return `\\set u random(1, :users)\n${bindAsExpressions(text, expressions)};\n`;
}

export interface PgbenchTarget {
  host: string;
  port: number;
  database: string;
  user: string;
}

export interface PgbenchRun {
  tps: number;
  transactions: number;
  failed: number;
  durationS: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  timeline: TimelinePoint[];
  /** CPU seconds pgbench itself used (user + system). */
  cpuSeconds: number;
}

const SAMPLING = 0.2; // share of transactions written to the per-transaction log (for percentiles)

/**
 * Run one script on several targets at once (e.g. both replicas), `clientsEach` connections on each,
 * for `durationS`, closed loop. Returns combined throughput and latency.
 */
export async function runPgbench(opts: {
  targets: readonly PgbenchTarget[];
  script: string;
  variables: Record<string, number>;
  clientsEach: number;
  durationS: number;
  workDir: string;
  onTick?: (elapsedS: number, tps: number) => void;
}): Promise<PgbenchRun> {
  rmSync(opts.workDir, { recursive: true, force: true });
  mkdirSync(opts.workDir, { recursive: true });
  const scriptFile = join(opts.workDir, 'script.sql');
  writeFileSync(scriptFile, opts.script);
  const runs = await Promise.all(
    opts.targets.map((target, i) =>
      pgbenchOnce(target, {
        ...opts,
        scriptFile,
        logPrefix: join(opts.workDir, `log${i}`),
        onProgress: i === 0 ? opts.onTick : undefined,
      }),
    ),
  );
  const histogram = createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
  const perSecond = new Map<number, { latencies: ReturnType<typeof createHistogram>; count: number }>();
  let firstSecond = Number.POSITIVE_INFINITY;
  for (const file of readdirSync(opts.workDir).filter((f) => f.startsWith('log'))) {
    for (const line of readFileSync(join(opts.workDir, file), 'utf8').split('\n')) {
      // client_id transaction_no latency_us script_no epoch_s epoch_us
      const f = line.split(' ');
      if (f.length < 6) continue;
      const us = Math.max(1, Number(f[2]));
      const second = Number(f[4]);
      histogram.record(us);
      firstSecond = Math.min(firstSecond, second);
      let bucket = perSecond.get(second);
      if (!bucket) {
        bucket = { latencies: createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 }), count: 0 };
        perSecond.set(second, bucket);
      }
      bucket.latencies.record(us);
      bucket.count++;
    }
  }
  const timeline: TimelinePoint[] = [...perSecond.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([second, b]) => ({
      t: second - firstSecond + 1,
      rps: Math.round(b.count / SAMPLING),
      p50_ms: b.latencies.percentile(50) / 1000,
      p99_ms: b.latencies.percentile(99) / 1000,
      errors: 0,
    }));
  const transactions = runs.reduce((a, r) => a + r.transactions, 0);
  return {
    tps: runs.reduce((a, r) => a + r.tps, 0),
    transactions,
    failed: runs.reduce((a, r) => a + r.failed, 0),
    durationS: opts.durationS,
    latencyMs:
      histogram.count === 0
        ? { p50: 0, p95: 0, p99: 0, max: 0 }
        : {
            p50: histogram.percentile(50) / 1000,
            p95: histogram.percentile(95) / 1000,
            p99: histogram.percentile(99) / 1000,
            max: histogram.max / 1000,
          },
    timeline,
    cpuSeconds: runs.reduce((a, r) => a + r.cpuSeconds, 0),
  };
}

function pgbenchOnce(
  target: PgbenchTarget,
  opts: {
    scriptFile: string;
    variables: Record<string, number>;
    clientsEach: number;
    durationS: number;
    logPrefix: string;
    onProgress?: ((elapsedS: number, tps: number) => void) | undefined;
  },
): Promise<{ tps: number; transactions: number; failed: number; cpuSeconds: number }> {
  const args = [
    '--no-vacuum',
    '--protocol=extended', // as node-postgres sends unnamed statements (no named ones through PgBouncer)
    `--client=${opts.clientsEach}`,
    `--jobs=${Math.min(2, opts.clientsEach)}`,
    `--time=${opts.durationS}`,
    '--progress=1',
    `--file=${opts.scriptFile}`,
    '--log',
    `--log-prefix=${opts.logPrefix}`,
    `--sampling-rate=${SAMPLING}`,
    ...Object.entries(opts.variables).map(([k, v]) => `--define=${k}=${v}`),
    `--host=${target.host}`,
    `--port=${target.port}`,
    `--username=${target.user}`,
    target.database,
  ];
  // `times` after pgbench prints the CPU its children used: pgbench's own cost, measured by the kernel.
  const pgbench = join(postgresBinDir(), 'pgbench'); // the same PostgreSQL release as the stack's servers
  const child = spawn('bash', ['-c', '"$0" "$@"; code=$?; times; exit $code', pgbench, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PGAPPNAME: 'taskfleet-bench' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
    const m = /progress: ([\d.]+) s, ([\d.]+) tps/.exec(String(d));
    if (m) opts.onProgress?.(Number(m[1]), Number(m[2]));
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`pgbench failed (exit ${code}):\n${stderr.slice(-2000)}`));
        return;
      }
      const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
      const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? 0);
      const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
      const times = [...stdout.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)].at(-1);
      const cpuSeconds = times
        ? Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4])
        : 0;
      if (!Number.isFinite(tps)) {
        reject(new Error(`could not read pgbench's result:\n${stdout.slice(-2000)}`));
        return;
      }
      resolve({ tps, transactions, failed, cpuSeconds });
    });
  });
}
