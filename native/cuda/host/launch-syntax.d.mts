// Types of launch-syntax.mjs for the TypeScript tests.
export function rewriteLaunches(source: string, fileName?: string): string;
