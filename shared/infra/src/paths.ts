import { join, resolve } from 'node:path';

/** The repository root (this file is shared/infra/src/paths.ts). */
export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export const repoPath = (...parts: string[]) => join(REPO_ROOT, ...parts);
