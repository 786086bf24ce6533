/** The Python that can `import torch`, for the PyTorch references (`npm run bench`, test/torch-reference.test.ts):
 *  $PYTHON, then Debian's /usr/bin/python3 (python3-torch), then whichever python3 is first on PATH (a
 *  pyenv or venv one usually has no torch). */
import { spawnSync } from 'node:child_process';

export interface TorchPython {
  python: string;
  version: string;
}

export function findTorchPython(): TorchPython | null {
  for (const python of [process.env.PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => Boolean(p))) {
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (probe.status === 0) return { python, version: probe.stdout.trim() };
  }
  return null;
}
