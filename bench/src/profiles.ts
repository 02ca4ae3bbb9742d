// Run lengths. `short` (the default) measures for under a minute (≈1 min in all on a kept stack): a
// quick check after a change. `long` is for numbers worth writing down. `smoke` is the test suite's: a
// few seconds per run, a small seed.
export interface Profile {
  users: number;
  tasks: number;
  /** Months back the seeded tasks spread over (one partition each). */
  months: number;
  zipfS: number;
  /** Connections of the closed and open loops (the ceilings use the same). */
  connections: number;
  warmupS: number;
  closedS: number;
  openS: number;
  /** connections-10k: how many connections, one request every `manyConnectionsIntervalS` each. */
  manyConnections: number;
  manyConnectionsIntervalS: number;
  manyConnectionsS: number;
  rampS: number;
  /** pgbench clients in all, and seconds per pgbench ceiling. */
  pgClients: number;
  pgS: number;
  /** Rough length of the whole run, for the access tokens' lifetime. */
  estimatedS: number;
}

const SHORT: Profile = {
  users: 1_000,
  tasks: 100_000,
  months: 6,
  zipfS: 1.1,
  connections: 64,
  warmupS: 1,
  closedS: 3,
  openS: 3,
  manyConnections: 10_000,
  manyConnectionsIntervalS: 10,
  manyConnectionsS: 8,
  rampS: 4,
  pgClients: 16,
  pgS: 4,
  estimatedS: 120,
};

export const PROFILES: Record<string, Profile> = {
  short: SHORT,
  long: {
    ...SHORT,
    warmupS: 5,
    closedS: 30,
    openS: 30,
    manyConnectionsS: 60,
    rampS: 10,
    pgS: 30,
    estimatedS: 700,
  },
  smoke: {
    ...SHORT,
    users: 100,
    tasks: 5_000,
    months: 3,
    connections: 16,
    warmupS: 0,
    closedS: 2,
    openS: 2,
    manyConnections: 500,
    manyConnectionsIntervalS: 1,
    manyConnectionsS: 3,
    rampS: 1,
    pgClients: 4,
    pgS: 2,
    estimatedS: 60,
  },
};
