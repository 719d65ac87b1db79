/**
 * Work a request starts but does not wait for (a deleted project's data removal). The
 * server waits for it on close, so the database is never shut under a running task.
 * Tracked promises must not reject: they log their own failures.
 */
export class BackgroundWork {
  private readonly running = new Set<Promise<unknown>>();

  track(task: Promise<unknown>): void {
    this.running.add(task);
    void task.finally(() => this.running.delete(task));
  }

  /** Settles once everything tracked so far has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }
}
