import { configProblems } from '@taskfleet/infra';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

const base = {
  TASKS_UPSTREAMS: 'http://tasks:3000',
  USERS_UPSTREAMS: 'http://users:3200',
  REDIS_URL: 'redis://h',
};

/** The ConfigError message loadConfig throws for `env`. */
const problemsOf = (env: NodeJS.ProcessEnv): string => configProblems(() => loadConfig(env));

describe('gateway loadConfig', () => {
  it('accepts one or more http://host:port upstreams per service', () => {
    const tasks = 'http://tasks-1:3000, http://10.0.0.7:3000,http://[::1]:3000,';
    const c = loadConfig({ ...base, TASKS_UPSTREAMS: tasks, USERS_UPSTREAMS: 'http://users' });
    expect(c.TASKS_UPSTREAMS).toBe(tasks);
    expect(c).toMatchObject({ PORT: 3400, RETRIES: 2, BREAKER_FAILURES: 5, BREAKER_OPEN_MS: 5_000 });
  });

  it.each([
    ['a path', 'http://tasks:3000/api'],
    ['a trailing slash', 'http://tasks:3000/'],
    ['https (TLS ends at nginx)', 'https://tasks:3000'],
    ['no scheme', 'tasks:3000'],
  ])('rejects an upstream with %s, naming the setting and the URL', (_, url) => {
    expect(problemsOf({ ...base, TASKS_UPSTREAMS: `http://tasks-1:3000,${url}` })).toContain(
      `TASKS_UPSTREAMS: "${url}" must be http://host:port with no path`,
    );
  });

  it('checks both services and reports every bad URL', () => {
    const message = problemsOf({ ...base, TASKS_UPSTREAMS: 'ftp://a,http://b/x', USERS_UPSTREAMS: 'users' });
    expect(message).toContain('TASKS_UPSTREAMS: "ftp://a"');
    expect(message).toContain('TASKS_UPSTREAMS: "http://b/x"');
    expect(message).toContain('USERS_UPSTREAMS: "users"');
  });

  it('requires both upstream settings', () => {
    const message = problemsOf({ REDIS_URL: 'redis://h' });
    expect(message).toContain('TASKS_UPSTREAMS');
    expect(message).toContain('USERS_UPSTREAMS');
  });

  it('takes a file of upstreams instead of the list, never both', () => {
    const c = loadConfig({
      REDIS_URL: 'redis://h',
      TASKS_UPSTREAMS_FILE: '/stack/services/tasks.upstreams',
      USERS_UPSTREAMS: 'http://users:3200',
    });
    expect(c.TASKS_UPSTREAMS_FILE).toBe('/stack/services/tasks.upstreams');
    expect(c.TASKS_UPSTREAMS).toBeUndefined();
    const message = problemsOf({ ...base, USERS_UPSTREAMS_FILE: '/stack/services/users.upstreams' });
    expect(message).toContain('USERS_UPSTREAMS and USERS_UPSTREAMS_FILE: give one, not both');
    expect(message).not.toContain('TASKS_UPSTREAMS');
  });

  it('names both ways of giving the upstreams when neither is there', () => {
    expect(problemsOf({ REDIS_URL: 'redis://h' })).toContain(
      'TASKS_UPSTREAMS or TASKS_UPSTREAMS_FILE: one is required',
    );
  });

  it('bounds the breaker settings', () => {
    const message = problemsOf({ ...base, BREAKER_FAILURES: '0', BREAKER_OPEN_MS: '99' });
    expect(message).toContain('BREAKER_FAILURES');
    expect(message).toContain('BREAKER_OPEN_MS');
  });
});
