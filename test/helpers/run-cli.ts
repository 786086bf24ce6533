import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const cli = resolve('src/cli/index.ts');
// Resolved here: the child runs in a scratch directory where `--import tsx` would not find the package.
const tsx = import.meta.resolve('tsx');

/** Runs the CLI from sources in `cwd`. */
export function runCli(cwd: string, args: string[], timeout = 300_000): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', tsx, cli, ...args], { cwd, encoding: 'utf8', timeout });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
