/**
 * Announcements that the build queue changed for some runners, so that a held long poll
 * wakes at once and an idle poll knows when it must look at the database again. Every
 * process sharing the database must hear every announcement: in one process an in-memory
 * fan-out does it; with PostgreSQL, LISTEN/NOTIFY carries them (see notes in README).
 */
import type { Db } from '../store/db.js';

export type QueueEvent =
  /** Builds of a project became pending (new pipeline, next stage, retry, play). */
  | { kind: 'builds'; projectId: number; sharedRunnersEnabled: boolean; tagLists: string[][] }
  /** What a runner may take, or whether it exists, changed: settings, pause, assignment, deletion. */
  | { kind: 'runner'; runnerId: number }
  /** Announcements may have been missed (a lost LISTEN connection): forget everything derived from them. */
  | { kind: 'reset' };

export type QueueListener = (event: QueueEvent) => void;

export interface QueueSignals {
  /** Call after the change committed. Reaches every process sharing the database, this one included. */
  publish(event: QueueEvent): void;
  /** Every announcement, from any process. Returns the function that unsubscribes. */
  subscribe(listener: QueueListener): () => void;
  close(): Promise<void>;
}

/** The announcements of one process: enough when one process owns the database (SQLite). */
export class InMemoryQueueSignals implements QueueSignals {
  private readonly listeners = new Set<QueueListener>();

  publish(event: QueueEvent): void {
    deliver(this.listeners, event);
  }

  subscribe(listener: QueueListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

/** Hands an event to each listener; one listener's failure never keeps it from the others. */
export function deliver(listeners: Iterable<QueueListener>, event: QueueEvent): void {
  for (const listener of [...listeners]) {
    try {
      listener(event);
    } catch {
      // A listener is in-memory bookkeeping; it has nothing to report to the publisher.
    }
  }
}

// The signals belong to the database they announce changes of (with PostgreSQL they travel
// through it), so the domain finds them from its `db` instead of through every signature.
const boundSignals = new WeakMap<Db, QueueSignals>();

export function bindQueueSignals(db: Db, signals: QueueSignals): void {
  boundSignals.set(db, signals);
}

/** The signals bound to `db`; a handle opened without them (tools, some tests) gets its own in-memory ones. */
export function queueSignalsOf(db: Db): QueueSignals {
  let signals = boundSignals.get(db);
  if (!signals) boundSignals.set(db, (signals = new InMemoryQueueSignals()));
  return signals;
}
