/**
 * What this process knows about the runners that poll it, kept without asking the
 * database on every poll, and correct because every change to the queue is announced
 * (queueSignals.ts) to every process:
 *
 * - the runner a token names (the authentication of builds/register): dropped the moment
 *   the runner is changed, paused or deleted anywhere, so its next poll reads it again;
 * - its queue version, GitLab's `X-GitLab-Last-Update`: a new one each time a build it may
 *   take is queued; a poll at a version whose scan found nothing needs no database work;
 * - its held requests (long polling), woken by the same announcements.
 *
 * What is derived from announcements is also forgotten after ENTRY_LIFETIME_MS, so that
 * one that never arrived (a process that died between its commit and its NOTIFY, or two
 * processes sharing a SQLite file) costs at most that long.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import { listRunnerProjectIds, type RunnerApiVersion, type RunnerRecord } from '../store/runners.js';
import { tokenDigest } from '../store/tokenDigests.js';
import { canPick } from './buildQueue.js';
import type { QueueEvent, QueueSignals } from './queueSignals.js';
import { runnerSpeaking } from './runnerRegistration.js';

/** The rules a runner's requests are woken by: its settings and, for a specific or locked runner, its projects. */
export interface PollingRunner {
  runner: RunnerRecord;
  projectIds: ReadonlySet<number>;
}

/**
 * Why a wait ended: `queued` (a build it may take), `runner-changed` (read the runner
 * again), `timeout`, `gone` (the client hung up), `released` (the process is shutting down).
 */
export type WakeReason = 'queued' | 'runner-changed' | 'timeout' | 'gone' | 'released';

/** One runner as this process knows it. */
export interface RunnerEntry {
  readonly polling: PollingRunner;
  /** Its queue version now: changes whenever a build it may take is queued. */
  version: string;
  /** The version at which its last scan of the queue found nothing. */
  emptyAt: string | undefined;
  /** Replaced by a fresher entry (the runner changed, or the entry grew old): read the runner again. */
  stale: boolean;
  readonly loadedAt: number;
  readonly waiters: Set<(reason: WakeReason) => void>;
}

/** How long an entry is trusted without any announcement about it. */
export const ENTRY_LIFETIME_MS = 15_000;
/** Runners remembered at most; beyond, the oldest are forgotten (they are read again when they poll). */
const MAX_ENTRIES = 100_000;

/** Whether a build of this announcement is one the runner may take (Ci::Runner#can_pick? plus the queue's scope). */
export function mayTake({ runner, projectIds }: PollingRunner, event: Extract<QueueEvent, { kind: 'builds' }>): boolean {
  if (runner.isShared ? !event.sharedRunnersEnabled : !projectIds.has(event.projectId)) return false;
  return event.tagLists.some((tagList) => canPick(runner, projectIds, { projectId: event.projectId, tagList }));
}

/** What a runner's requests are woken by, read from the database. */
export async function pollingRunnerFor(db: Db, runner: RunnerRecord): Promise<PollingRunner> {
  const needsProjects = !runner.isShared || runner.locked;
  return { runner, projectIds: new Set(needsProjects ? await listRunnerProjectIds(db, runner.id) : []) };
}

export class RunnerQueues {
  /** By token digest: no runner token is kept in memory either. */
  private readonly entries = new Map<string, RunnerEntry>();
  private readonly digestsById = new Map<number, string>();
  private readonly unsubscribe: () => void;
  // A version from another process or an earlier start of this one never matches by accident.
  private readonly epoch = randomBytes(6).toString('hex');
  private versions = 0;
  /** Counts announcements about runners, to tell whether one arrived while a runner was being read. */
  private runnerChanges = 0;
  private waiting = 0;
  private releasing = false;

  constructor(
    private readonly db: Db,
    signals: QueueSignals,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.unsubscribe = signals.subscribe((event) => this.onEvent(event));
  }

  /** Requests held right now. */
  get size(): number {
    return this.waiting;
  }

  /** What is held for requests, counted where it is kept (tests: nothing may stay behind a request). */
  holdings(): { waiters: number; runners: number } {
    let waiters = 0;
    for (const entry of this.entries.values()) waiters += entry.waiters.size;
    return { waiters, runners: this.entries.size };
  }

  /** The runner this token names, speaking `api`; undefined for an unknown token (never remembered). */
  async lookup(token: string | undefined, api: RunnerApiVersion): Promise<RunnerEntry | undefined> {
    if (!token) return undefined;
    const digest = tokenDigest(token);
    const known = this.entries.get(digest);
    if (known && !known.stale && this.now() - known.loadedAt < ENTRY_LIFETIME_MS) {
      return known.polling.runner.apiVersion === api ? known : undefined;
    }
    const changesBefore = this.runnerChanges;
    const runner = await runnerSpeaking(this.db, token, api);
    if (!runner) return undefined;
    const polling = await pollingRunnerFor(this.db, runner);
    const entry: RunnerEntry = { polling, version: this.nextVersion(), emptyAt: undefined, stale: false, loadedAt: this.now(), waiters: new Set() };
    // A runner changed while this one was being read: what was read may predate it, so use it once, never remember it.
    if (this.runnerChanges !== changesBefore) {
      entry.stale = true;
      return entry;
    }
    const replaced = this.entries.get(digest);
    if (replaced) this.retire(replaced);
    this.entries.set(digest, entry);
    this.digestsById.set(runner.id, digest);
    this.forgetOldest();
    return entry;
  }

  /** Holds until the entry's version changes, the runner changes, `ms` pass, or `gone` aborts. */
  wait(entry: RunnerEntry, ms: number, gone: AbortSignal): Promise<WakeReason> {
    if (gone.aborted) return Promise.resolve('gone');
    if (this.releasing) return Promise.resolve('released');
    if (entry.stale) return Promise.resolve('runner-changed');
    return new Promise<WakeReason>((resolve) => {
      const onGone = () => finish('gone');
      const timer = setTimeout(() => finish('timeout'), ms);
      // Everything a waiter holds is released in one place, whichever way it ends.
      const finish = (reason: WakeReason) => {
        if (!entry.waiters.delete(finish)) return;
        this.waiting -= 1;
        clearTimeout(timer);
        gone.removeEventListener('abort', onGone);
        resolve(reason);
      };
      entry.waiters.add(finish);
      this.waiting += 1;
      gone.addEventListener('abort', onGone, { once: true });
    });
  }

  /**
   * Answers every held request now ("no build") and every later one at once: for a
   * graceful shutdown, so that runners get their answer instead of a dropped connection.
   */
  releaseAll(): void {
    this.releasing = true;
    for (const entry of this.entries.values()) wakeAll(entry, 'released');
  }

  /** Whether the process is shutting down: a request then answers "no build" at once. */
  get released(): boolean {
    return this.releasing;
  }

  close(): void {
    this.releaseAll();
    this.unsubscribe();
  }

  private onEvent(event: QueueEvent): void {
    if (event.kind === 'builds') {
      for (const entry of this.entries.values()) {
        if (!mayTake(entry.polling, event)) continue;
        entry.version = this.nextVersion();
        wakeAll(entry, 'queued');
      }
    } else if (event.kind === 'runner') {
      this.runnerChanges += 1;
      const digest = this.digestsById.get(event.runnerId);
      const entry = digest === undefined ? undefined : this.entries.get(digest);
      if (digest !== undefined && entry) this.forget(digest, entry);
    } else {
      this.runnerChanges += 1;
      // After missed announcements nothing derived from them holds: everyone reads again.
      for (const [digest, entry] of [...this.entries]) this.forget(digest, entry);
    }
  }

  private forget(digest: string, entry: RunnerEntry): void {
    this.entries.delete(digest);
    if (this.digestsById.get(entry.polling.runner.id) === digest) this.digestsById.delete(entry.polling.runner.id);
    this.retire(entry);
  }

  private retire(entry: RunnerEntry): void {
    entry.stale = true;
    wakeAll(entry, 'runner-changed');
  }

  private forgetOldest(): void {
    if (this.entries.size <= MAX_ENTRIES) return;
    const [digest, entry] = this.entries.entries().next().value as [string, RunnerEntry];
    this.forget(digest, entry);
  }

  private nextVersion(): string {
    this.versions += 1;
    // Hex only, as GitLab's values were: the fixed-length epoch, then the counter.
    return `${this.epoch}${this.versions.toString(16)}`;
  }
}

function wakeAll(entry: RunnerEntry, reason: WakeReason): void {
  for (const wake of [...entry.waiters]) wake(reason);
}
