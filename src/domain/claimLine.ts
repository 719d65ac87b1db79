/**
 * Build requests of one process take their turn at the queue in arrival order, at most
 * `concurrency` at a time. Without it, requests woken together by one announcement scan
 * the same candidates and race for the same rows: with SQLite's single connection each
 * lost race costs a full round trip, and an unlucky request could lose for many seconds
 * (issue 7 saw polls unanswered after 30 s). In line, nobody in this process loses a
 * race to a neighbour, and nobody waits longer than the requests ahead of it.
 *
 * Group commit: when its turn comes, a request takes along the requests waiting right behind
 * it that go to the same `work` (at most `maxBatch` in all), and `work` serves them together,
 * in their order (SQLite: one transaction and one fsync for all their claims; see
 * assignNextBuilds). Nothing waits to fill a batch: a request that finds the line free starts
 * alone at once, and the ones arriving meanwhile form the next batch.
 */
export type BatchWork<I, R> = (items: I[]) => Promise<R[]>;

interface Waiting {
  item: unknown;
  work: BatchWork<unknown, unknown>;
  resolve(result: unknown): void;
  reject(err: unknown): void;
}

export class ClaimLine {
  private running = 0;
  private readonly queue: Waiting[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxBatch = 1,
  ) {}

  /** Runs `item` through `work` when its turn comes, with whoever is batched with it; answers its own result. */
  run<I, R>(item: I, work: BatchWork<I, R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, work: work as BatchWork<unknown, unknown>, resolve: resolve as (result: unknown) => void, reject });
      this.next();
    });
  }

  private next(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const { work } = this.queue[0]!;
      let size = 1;
      while (size < this.maxBatch && size < this.queue.length && this.queue[size]!.work === work) size += 1;
      const batch = this.queue.splice(0, size);
      this.running += 1;
      work(batch.map((waiting) => waiting.item))
        .then(
          (results) => batch.forEach((waiting, i) => waiting.resolve(results[i])),
          (err: unknown) => batch.forEach((waiting) => waiting.reject(err)),
        )
        .finally(() => {
          this.running -= 1;
          this.next();
        });
    }
  }
}
