import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_EXAMPLE, runExample } from '../examples/word-language.js';

/** The README's non-image example (word language from characters) at a tenth of its size: it runs and learns. */
describe('example: word language with and without InfoBatch', () => {
  it('trains both runs through the public API; InfoBatch saves sample-steps, both beat chance', async () => {
    const lines: string[] = [];
    const { baseline, infobatch } = await runExample({ ...DEFAULT_EXAMPLE, perLanguage: 400, epochs: 4, backend: 'wasm', log: (line) => lines.push(line) });
    assert.equal(baseline.savedFraction, 0);
    assert.ok(infobatch.savedFraction > 0.1, `saved ${infobatch.savedFraction}`);
    for (const run of [baseline, infobatch]) assert.ok(run.epochs.at(-1)!.valAccuracy! > 0.5, `accuracy ${run.epochs.at(-1)!.valAccuracy} (chance 1/3)`);
    assert.match(lines.at(-1)!, /^InfoBatch: best test accuracy [\d.]+ %.*% saved/);
    assert.match(lines[0]!, /^backend: wasm \(requested\)/);
  });
});
