import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { assertNoProblems, ConfigError, Int, readEnv } from '../../src/config.ts';

const schema = Type.Object({
  PORT: Int(0, 3000, 65_535),
  WORKERS: Int(1, 4),
  NAME: Type.String({ minLength: 1 }),
  URL: Type.String({ minLength: 1 }),
  MODE: Type.Enum(['fast', 'safe'], { default: 'safe' }),
  NOTE: Type.Optional(Type.String()),
});
const required = { NAME: 'api', URL: 'http://h' };

/** The problem about `key`, if there is one (each problem starts with the variable's name). */
const problemAbout = (problems: string[], key: string) => problems.find((p) => p.startsWith(`${key}: `));

describe('readEnv', () => {
  it('converts integer fields from their decimal text', () => {
    const { value, problems } = readEnv(schema, { ...required, PORT: '8080', WORKERS: '16' });
    expect(problems).toEqual([]);
    expect(value).toMatchObject({ PORT: 8080, WORKERS: 16 });
  });

  it('leaves string fields as text even when they look like numbers', () => {
    const { value } = readEnv(schema, { ...required, NAME: '123' });
    expect((value as { NAME: unknown }).NAME).toBe('123');
  });

  it('applies defaults for missing and empty variables', () => {
    const { value, problems } = readEnv(schema, { ...required, PORT: '', MODE: '' });
    expect(problems).toEqual([]);
    expect(value).toEqual({ ...required, PORT: 3000, WORKERS: 4, MODE: 'safe' });
  });

  it('ignores variables the schema does not name', () => {
    const { value } = readEnv(schema, { ...required, PATH: '/usr/bin', HOME: '/root' });
    expect(value).not.toHaveProperty('PATH');
    expect(value).not.toHaveProperty('HOME');
  });

  it.each(['eighty', '1.5', '1e3', ' 80', '0x50'])('rejects %j for an integer field', (text) => {
    const { problems } = readEnv(schema, { ...required, PORT: text });
    expect(problemAbout(problems, 'PORT')).toMatch(/integer/);
  });

  it('enforces both bounds, inclusively', () => {
    const ok = (PORT: string) => problemAbout(readEnv(schema, { ...required, PORT }).problems, 'PORT');
    expect(ok('0')).toBeUndefined();
    expect(ok('65535')).toBeUndefined();
    expect(ok('-1')).toMatch(/>= 0/);
    expect(ok('65536')).toMatch(/<= 65535/);
  });

  it('has no upper bound unless one is given (beyond exact integers)', () => {
    const workers = (WORKERS: string) => readEnv(schema, { ...required, WORKERS });
    expect(workers('1000000000').problems).toEqual([]);
    expect(problemAbout(workers('0').problems, 'WORKERS')).toMatch(/>= 1/);
    expect(problemAbout(workers('9007199254740993').problems, 'WORKERS')).toBeDefined();
  });

  it('treats an empty required variable as missing', () => {
    const { problems } = readEnv(schema, { ...required, NAME: '' });
    expect(problemAbout(problems, 'NAME')).toMatch(/required/);
  });

  it('lists every problem, each once, each naming its variable', () => {
    const { problems } = readEnv(schema, { PORT: 'x', WORKERS: '0', MODE: 'reckless' });
    for (const key of ['PORT', 'WORKERS', 'MODE', 'NAME', 'URL'])
      expect(problems.join('\n')).toMatch(new RegExp(`^[^\\n]*${key}[^\\n]*: `, 'm'));
    expect(new Set(problems).size).toBe(problems.length);
    expect(problems.join('\n')).not.toContain('NOTE');
  });
});

describe('Int', () => {
  it('is an integer schema with its bounds and default', () => {
    expect(Int(1, 5, 10)).toMatchObject({ type: 'integer', minimum: 1, maximum: 10, default: 5 });
    expect(Int(0, 7)).toMatchObject({ maximum: Number.MAX_SAFE_INTEGER });
  });
});

describe('assertNoProblems', () => {
  it('accepts a configuration without problems', () => {
    expect(() => assertNoProblems([])).not.toThrow();
  });

  it('throws one ConfigError listing every problem on a line of its own', () => {
    let error: unknown;
    try {
      assertNoProblems(['PORT: must be integer', 'NAME: is required']);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
    expect((error as Error).message.split('\n')).toEqual([
      'invalid configuration:',
      '  PORT: must be integer',
      '  NAME: is required',
    ]);
  });
});
