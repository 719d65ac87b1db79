/**
 * Build requests of one process take their turn at the queue in arrival order, at most
 * `concurrency` at a time. Without it, requests woken together by one announcement scan
 * the same candidates and race for the same rows: with SQLite's single connection each
 * lost race costs a full round trip, and an unlucky request could lose for many seconds
 * (issue 7 saw polls unanswered after 30 s). In line, nobody in this process loses a
 * race to a neighbour, and nobody waits longer than the requests ahead of it.
 */
export class ClaimLine {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly concurrency: number) {}

  /** Runs `work` when its turn comes; the next in line starts when it settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running += 1;
    try {
      return await work();
    } finally {
      const next = this.queue.shift();
      // The slot passes straight to the next in line, so a newcomer cannot jump ahead.
      if (next) next();
      else this.running -= 1;
    }
  }
}
