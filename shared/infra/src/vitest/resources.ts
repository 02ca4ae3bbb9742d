// Per-worker isolation: worker N (VITEST_POOL_ID, 1..maxWorkers) owns database taskfleet_wN, vhost
// taskfleet_wN and Redis database N, so parallel test files never see each other's data.
export const workerDatabase = (id: number) => `taskfleet_w${id}`;
export const workerVhost = (id: number) => `taskfleet_w${id}`;
/** Redis has 16 databases (0–15); 0 stays for the stack itself. */
export const workerRedisDb = (id: number) => 1 + ((id - 1) % 15);

/** Directories of test stacks start with this (the check for leftover processes looks for it). */
export const TEST_STACK_PREFIX = 'taskfleet-test-';
