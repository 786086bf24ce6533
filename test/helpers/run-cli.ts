import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const cli = resolve('src/cli/index.ts');

/** Whether the CLI's sources are here (not in the GPU check's bundled copy of a test). */
export const cliSourcesPresent = existsSync(cli);

/** Runs the CLI from sources in `cwd`, with `env` added to the environment. */
export function runCli(cwd: string, args: string[], timeout = 300_000, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  // Resolved here: the child runs in a scratch directory where `--import tsx` would not find the package.
  const tsx = import.meta.resolve('tsx');
  const result = spawnSync(process.execPath, ['--import', tsx, cli, ...args], { cwd, encoding: 'utf8', timeout, env: { ...process.env, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
