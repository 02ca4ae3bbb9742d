// Files that other processes read while we rewrite them (a gateway's upstreams, nginx's servers,
// Prometheus's targets): written whole or not at all.
import { renameSync, writeFileSync } from 'node:fs';

/** Write `path` through a temp file beside it and a rename: a reader sees the old text or the new, never half. */
export function writeFileAtomic(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}
