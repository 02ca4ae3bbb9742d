// The task service's migrations (migrations/), by the shared runner; then partitions are created ahead
// under the same lock.
import { join } from 'node:path';
import { migrate as runMigrations } from '@taskfleet/service';
import { ensurePartitions } from './maintenance.ts';

export const MIGRATIONS_DIR = join(import.meta.dirname, '..', '..', 'migrations');
const LOCK_KEY = 7_236_201; // any constant: identifies "tasks migrations" among advisory locks

export interface MigrateResult {
  applied: string[];
  partitionsCreated: number;
}

export async function migrate(
  connectionString: string,
  opts: { log?: (m: string) => void; dir?: string } = {},
): Promise<MigrateResult> {
  let partitionsCreated = 0;
  const applied = await runMigrations(
    connectionString,
    {
      dir: opts.dir ?? MIGRATIONS_DIR,
      table: 'schema_migrations',
      lockKey: LOCK_KEY,
      after: async (client) => {
        partitionsCreated = await ensurePartitions(client);
      },
    },
    opts,
  );
  return { applied, partitionsCreated };
}
