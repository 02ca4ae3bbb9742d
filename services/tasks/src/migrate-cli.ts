// `node src/migrate-cli.ts` — apply the task service's migrations once per deploy (not by every replica
// at start-up). Reads DATABASE_MIGRATION_URL: a direct connection to the primary as the owning role.
// Exits non-zero on any failure.
import { migrate } from './db/migrate.ts';

const url = process.env.DATABASE_MIGRATION_URL;
if (!url) {
  process.stderr.write('DATABASE_MIGRATION_URL is required (direct to the primary, not through PgBouncer)\n');
  process.exit(2);
}
try {
  const result = await migrate(url, { log: (m) => process.stdout.write(`migrate: ${m}\n`) });
  process.stdout.write(
    `migrate: ${result.applied.length ? `applied ${result.applied.join(', ')}` : 'up to date'}; ${result.partitionsCreated} partitions created\n`,
  );
} catch (err) {
  process.stderr.write(`migrate: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
