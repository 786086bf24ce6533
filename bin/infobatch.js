#!/usr/bin/env node
// Entry point of `npx infobatch`: runs the compiled CLI (npm runs `tsc` on install via the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write('infobatch: the TypeScript sources are not built yet; run `npm run build` in the package directory\n');
  process.exit(1);
}
const { main } = await import(compiled.href);
process.exitCode = await main(process.argv.slice(2));
