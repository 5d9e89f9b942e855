import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../bridge/config.ts';
import { render, schemas } from '../../scripts/schemas.ts';

const stdio = { type: 'stdio', command: 'node', args: ['server.js'] };

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('bridge configuration', () => {
  it('fills in defaults for a minimal config', () => {
    const config = parseConfig({ version: 1, servers: [{ name: 'echo', transport: stdio }] });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080, allowedOrigins: [] });
    expect(config.servers[0]).toMatchObject({ sessions: 'isolated', pool: 2, limits: { maxSessions: 256 } });
  });

  it('names the field path of every problem', () => {
    expect(
      problems({
        version: 1,
        servers: [
          { name: 'ok', transport: stdio },
          { name: 'two', transport: { type: 'stdio' } },
          { name: 'Bad Name', transport: { type: 'sse', url: 'not a url' }, pool: -1 },
        ],
      }),
    ).toEqual([
      'servers[1].transport.command: required',
      'servers[2].name: lowercase letters, digits and "-", at most 63 characters',
      'servers[2].transport.url: Invalid URL',
      'servers[2].pool: Too small: expected number to be >=0',
    ]);
  });

  it('refuses unknown fields, a missing version and duplicate names', () => {
    expect(problems({ servers: [{ name: 'a', transport: stdio }] })).toContain(
      'version: Invalid input: expected 1',
    );
    expect(problems({ version: 1, servers: [{ name: 'a', transport: stdio, shell: true }] })).toEqual([
      'servers[0]: Unrecognized key: "shell"',
    ]);
    expect(
      problems({
        version: 1,
        servers: [
          { name: 'a', transport: stdio },
          { name: 'a', transport: stdio },
        ],
      }),
    ).toEqual(['servers[1].name: duplicate server name "a"']);
  });

  it('loads the example the quick start uses', async () => {
    const config = await loadConfig(join(import.meta.dirname, '../../examples/bridge.yaml'));
    expect(config.servers.map((s) => s.name)).toContain('everything');
  });

  it.each(Object.entries(schemas))('checked-in schemas/%s is up to date (npm run schemas)', (file, make) => {
    const checkedIn = readFileSync(join(import.meta.dirname, '../../schemas', file), 'utf8');
    expect(checkedIn).toBe(render(make));
  });
});
