// HOST EMULATION ONLY: rewrites CUDA's kernel launch syntax, which is not C++, into a call that g++ can
// compile (kernel_language.h defines ::ibhost::launch):
//   name<T><<<grid, block, shmem, stream>>>(a, b)
//   → ::ibhost::launch("name<T>", ::ibhost::LaunchConfig(grid, block, shmem, stream), name<T>, a, b)
// Used by scripts/build-cuda.mjs --host-emulation on copies of the .cu files, never in place.

// A kernel name with optional (non-nested) template arguments, the launch configuration (anything up to
// the first ">>>", no semicolon), and the opening parenthesis of the arguments (or an empty list).
const LAUNCH = /\b([A-Za-z_]\w*(?:\s*<[^<>;(){}]*>)?)\s*<<<([^;]*?)>>>\s*\(\s*(\))?/g;

/** The source with every launch rewritten; throws, naming the line, if any "<<<" or ">>>" is left. */
export function rewriteLaunches(source, fileName = 'source') {
  const rewritten = source.replace(LAUNCH, (_match, kernel, config, emptyArguments) => {
    const name = kernel.replace(/\s+/g, '');
    return `::ibhost::launch(${JSON.stringify(name)}, ::ibhost::LaunchConfig(${config.trim()}), ${name}${emptyArguments ? ')' : ', '}`;
  });
  const lines = rewritten.split('\n');
  const left = lines.findIndex((line) => line.includes('<<<') || line.includes('>>>'));
  if (left >= 0) throw new Error(`${fileName}:${left + 1}: a kernel launch the host emulation cannot rewrite: ${lines[left].trim()}`);
  return rewritten;
}
