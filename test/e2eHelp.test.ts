/**
 * Every subcommand answers `--help`, and the README's Configuration table lists every option
 * that help shows, with the same environment variable: the table cannot silently fall behind.
 * (`npm run build` first: this runs dist/cli/ringleader.js.)
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLI_PATH } from '../cli/supervisor.js';

const run = promisify(execFile);
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function configurationTable(): string {
  const start = README.indexOf('## Configuration');
  expect(start, 'README has a "## Configuration" section').toBeGreaterThanOrEqual(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

describe.each(['up', 'relay', 'node', 'inspector', 'run', 'watch'])('ringleader %s --help', (command) => {
  it('prints its options, and the README documents each with its variable', async () => {
    const { stdout } = await run(process.execPath, [DEFAULT_CLI_PATH, command, '--help']);
    expect(stdout).toContain(`Usage: ringleader ${command}`);
    const options = [...stdout.matchAll(/^ {2}--([a-z0-9-]+)\b.*?(?:\[env (\w+)\])?$/gm)].map(([, flag, env]) => ({ flag: flag!, env }));
    expect(options.length).toBeGreaterThan(0);

    const rows = configurationTable()
      .split('\n')
      .filter((line) => line.startsWith(`| \`${command}\` |`));
    for (const { flag, env } of options) {
      const row = rows.find((line) => line.includes(`\`--${flag}\``));
      expect(row, `README Configuration has no row for ringleader ${command} --${flag}`).toBeDefined();
      if (env) expect(row, `the README row of ${command} --${flag} names ${env}`).toContain(`\`${env}\``);
    }
  });
});
