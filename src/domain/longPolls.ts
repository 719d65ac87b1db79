/**
 * Held build requests (long polling): a runner's request waits here until a build it may
 * take is queued, its settings change, its client goes away, its time is up, or the
 * process releases every waiter on shutdown. Nothing here touches the database: a woken
 * request claims through the queue as any other request does.
 */
import type { RunnerRecord } from '../store/runners.js';
import { canPick } from './buildQueue.js';
import type { QueueEvent, QueueSignals } from './queueSignals.js';

/** The rules a waiting runner is woken by: its settings and, for a specific or locked runner, its projects. */
export interface PollingRunner {
  runner: RunnerRecord;
  projectIds: ReadonlySet<number>;
}

/**
 * Why a wait ended: `queued` (a build it may take), `runner-changed` (re-read the runner),
 * `timeout`, `gone` (the client hung up), `released` (the process is shutting down).
 */
export type WakeReason = 'queued' | 'runner-changed' | 'timeout' | 'gone' | 'released';

interface Waiter {
  polling: PollingRunner;
  wake(reason: WakeReason): void;
}

/** Whether a build of this announcement is one the runner may take (Ci::Runner#can_pick? plus the queue's scope). */
export function mayTake({ runner, projectIds }: PollingRunner, event: Extract<QueueEvent, { kind: 'builds' }>): boolean {
  if (runner.isShared ? !event.sharedRunnersEnabled : !projectIds.has(event.projectId)) return false;
  return event.tagLists.some((tagList) => canPick(runner, projectIds, { projectId: event.projectId, tagList }));
}

export class LongPolls {
  private readonly waiters = new Set<Waiter>();
  private readonly unsubscribe: () => void;
  private releasing = false;

  constructor(signals: QueueSignals) {
    this.unsubscribe = signals.subscribe((event) => this.onEvent(event));
  }

  /** Requests held right now. */
  get size(): number {
    return this.waiters.size;
  }

  /** Whether the process is shutting down: a request should then answer "no build" at once instead of waiting. */
  get released(): boolean {
    return this.releasing;
  }

  /** Holds until something this runner cares about happens, `ms` pass, or `gone` aborts. */
  wait(polling: PollingRunner, ms: number, gone: AbortSignal): Promise<WakeReason> {
    if (gone.aborted) return Promise.resolve('gone');
    if (this.releasing) return Promise.resolve('released');
    return new Promise<WakeReason>((resolve) => {
      const waiter: Waiter = { polling, wake: (reason) => finish(reason) };
      const onGone = () => finish('gone');
      const timer = setTimeout(() => finish('timeout'), ms);
      // Everything a waiter holds is released in one place, whichever way it ends.
      const finish = (reason: WakeReason) => {
        if (!this.waiters.delete(waiter)) return;
        clearTimeout(timer);
        gone.removeEventListener('abort', onGone);
        resolve(reason);
      };
      this.waiters.add(waiter);
      gone.addEventListener('abort', onGone, { once: true });
    });
  }

  /**
   * Answers every held request now ("no build") and every later one at once: for a
   * graceful shutdown, so that runners get their answer instead of a dropped connection.
   */
  releaseAll(): void {
    this.releasing = true;
    for (const waiter of [...this.waiters]) waiter.wake('released');
  }

  close(): void {
    this.releaseAll();
    this.unsubscribe();
  }

  private onEvent(event: QueueEvent): void {
    for (const waiter of [...this.waiters]) {
      const { runner } = waiter.polling;
      if (event.kind === 'builds' && mayTake(waiter.polling, event)) waiter.wake('queued');
      else if (event.kind === 'runner' && event.runnerId === runner.id) waiter.wake('runner-changed');
      // After missed announcements, nobody can tell what was queued: everyone looks again.
      else if (event.kind === 'reset') waiter.wake('queued');
    }
  }
}
