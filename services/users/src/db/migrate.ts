// The users service's migrations (migrations/, tables in schema `users`), by the shared runner.
import { join } from 'node:path';
import { migrate as runMigrations } from '@taskfleet/service';

export const MIGRATIONS_DIR = join(import.meta.dirname, '..', '..', 'migrations');
const LOCK_KEY = 7_236_202; // "users migrations" among advisory locks (tasks: 7_236_201)

export function migrate(
  connectionString: string,
  opts: { log?: (m: string) => void } = {},
): Promise<string[]> {
  return runMigrations(
    connectionString,
    { dir: MIGRATIONS_DIR, table: 'users.schema_migrations', lockKey: LOCK_KEY },
    opts,
  );
}
