/**
 * Wakes the followers of a build's trace in this process the moment the build changes here
 * (a trace append, a state update), so a live trace shows a PATCH at once instead of at the
 * next poll. Changes made by another process sharing the database are still seen by the
 * followers' polling; this only makes the common case immediate.
 */
export class BuildSignals {
  private readonly waiting = new Map<number, Set<() => void>>();

  /** The build changed: every follower waiting on it wakes up. */
  changed(buildId: number): void {
    const wakers = this.waiting.get(buildId);
    if (!wakers) return;
    this.waiting.delete(buildId);
    for (const wake of wakers) wake();
  }

  /** Someone in this process follows the build's trace (a v4 runner is then asked to send more often). */
  isWatched(buildId: number): boolean {
    return this.waiting.has(buildId);
  }

  /** Resolves when the build changes, after `ms`, or when `signal` aborts, whichever comes first. */
  async nextChange(buildId: number, ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    let wakers = this.waiting.get(buildId);
    if (!wakers) this.waiting.set(buildId, (wakers = new Set()));
    const set = wakers;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const timer = setTimeout(wake, ms);
    signal.addEventListener('abort', wake, { once: true });
    set.add(wake);
    try {
      await woken;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', wake);
      set.delete(wake);
      if (set.size === 0 && this.waiting.get(buildId) === set) this.waiting.delete(buildId);
    }
  }
}
