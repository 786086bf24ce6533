/**
 * Examples for --help as whole lines (command, then what it does), so they can be copied as they are;
 * yargs' own .example() puts them in two wrapped columns that break the commands apart.
 */
export function examplesEpilogue(examples: ReadonlyArray<readonly [command: string, description: string]>): string {
  return ['Examples:', ...examples.flatMap(([command, description]) => [`  ${description}:`, `    ${command}`])].join('\n');
}
