/**
 * What runs when a graceful shutdown begins (SIGTERM): long answers that would otherwise hold
 * the process until SHUTDOWN_TIMEOUT_SECONDS (live trace streams) end themselves, so that
 * their clients reconnect to another process at once. Held long polls are answered by
 * LongPolls.releaseAll(); everything else in flight just finishes.
 */
export class ShutdownHooks {
  private readonly hooks = new Set<() => void>();
  private begun = false;

  get shuttingDown(): boolean {
    return this.begun;
  }

  /** Runs `hook` once when shutdown begins (at once if it has); answers its removal. */
  register(hook: () => void): () => void {
    if (this.begun) {
      hook();
      return () => undefined;
    }
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  begin(): void {
    if (this.begun) return;
    this.begun = true;
    for (const hook of [...this.hooks]) hook();
    this.hooks.clear();
  }
}
