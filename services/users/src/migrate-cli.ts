// `node src/migrate-cli.ts` — apply the users service's migrations once per deploy. Reads
// DATABASE_MIGRATION_URL (direct to the primary, as the owning role). Exits non-zero on any failure.
import { migrate } from './db/migrate.ts';

const url = process.env.DATABASE_MIGRATION_URL;
if (!url) {
  process.stderr.write('DATABASE_MIGRATION_URL is required (direct to the primary, not through PgBouncer)\n');
  process.exit(2);
}
try {
  const applied = await migrate(url, { log: (m) => process.stdout.write(`migrate users: ${m}\n`) });
  process.stdout.write(`migrate users: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}\n`);
} catch (err) {
  process.stderr.write(`migrate users: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
