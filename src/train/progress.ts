import cliProgress from 'cli-progress';

/**
 * Per-epoch progress: a live bar on a terminal (batches, img/s, running loss), and on anything else
 * (CI logs, files) a plain line at every quarter of the epoch, so logs stay readable.
 */
export class EpochProgress {
  private bar: cliProgress.SingleBar | null = null;
  private startTime = 0;
  private nextQuarter = 1;
  private total = 0;
  private label = '';

  constructor(
    private readonly log: (line: string) => void,
    private readonly interactive: boolean = Boolean(process.stderr.isTTY),
  ) {}

  start(label: string, numBatches: number): void {
    this.label = label;
    this.total = numBatches;
    this.startTime = performance.now();
    this.nextQuarter = 1;
    if (this.interactive) {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {value}/{total} batches | {rate} img/s | loss {loss}`,
          stream: process.stderr,
          clearOnComplete: true,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(numBatches, 0, { rate: '-', loss: '-' });
    }
  }

  update(batchesDone: number, imagesDone: number, runningLoss: number): void {
    const seconds = (performance.now() - this.startTime) / 1000;
    const rate = seconds > 0 ? (imagesDone / seconds).toFixed(1) : '-';
    if (this.bar) {
      this.bar.update(batchesDone, { rate, loss: runningLoss.toFixed(4) });
    } else if (batchesDone >= (this.nextQuarter * this.total) / 4 && batchesDone < this.total) {
      this.log(`${this.label} ${batchesDone}/${this.total} batches, ${rate} img/s, loss ${runningLoss.toFixed(4)}`);
      while (batchesDone >= (this.nextQuarter * this.total) / 4) this.nextQuarter++;
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
