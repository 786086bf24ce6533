/**
 * Entry of the single-file bundle that scripts/bundle-gpu-check.ts builds: the `infobatch` CLI, plus
 * `gpu-check-bench`, the benchmark scripts/gpu-check.sh runs. The CLI runs itself when its module is the
 * program being run, which in a bundle it is, so it is only imported when it is wanted.
 */
import { runGpuCheckBench } from './gpu-check-bench.js';

const [command, ...rest] = process.argv.slice(2);
if (command === 'gpu-check-bench') {
  process.exit(await runGpuCheckBench(rest));
} else {
  await import('../src/cli/index.js');
}
