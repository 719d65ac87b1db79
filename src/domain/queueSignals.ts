/**
 * Announcements that the build queue changed for some runners, so that a held long poll
 * wakes at once and an idle poll knows when it must look at the database again. Every
 * process sharing the database must hear every announcement: in one process an in-memory
 * fan-out does it; with PostgreSQL, LISTEN/NOTIFY carries them (see notes in README).
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import type { Notifications } from '../store/notifications.js';

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
  /** Listeners subscribed now: a fixed few per process, however many requests come and go. */
  readonly listenerCount: number;
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

  get listenerCount(): number {
    return this.listeners.size;
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

/** The channel queue announcements travel on between processes. */
export const QUEUE_CHANNEL = 'coordinator_queue';
/** Below PostgreSQL's 8,000-byte payload limit, with room for the envelope. */
const MAX_PAYLOAD_CHARS = 7000;

/**
 * Announcements for several processes sharing one database, over the store's notifications
 * (PostgreSQL LISTEN/NOTIFY; on SQLite the same API stays within the process). This process's
 * listeners hear its own announcements at once; its echo from the database is recognised by
 * the origin id and dropped. When the listening connection is lost or comes back, listeners
 * get 'reset': announcements may have been missed meanwhile.
 */
export class NotifyingQueueSignals implements QueueSignals {
  private readonly local = new InMemoryQueueSignals();
  private readonly origin = randomBytes(8).toString('hex');
  private stopListening: (() => Promise<void>) | undefined;
  private stopWatching: (() => void) | undefined;

  private constructor(
    private readonly notifications: Notifications,
    private readonly log: (line: string) => void,
  ) {}

  static async open(notifications: Notifications, log: (line: string) => void): Promise<NotifyingQueueSignals> {
    const signals = new NotifyingQueueSignals(notifications, log);
    signals.stopWatching = notifications.onConnectionChange(() => signals.local.publish({ kind: 'reset' }));
    signals.stopListening = await notifications.listen(QUEUE_CHANNEL, (payload) => signals.received(payload));
    return signals;
  }

  publish(event: QueueEvent): void {
    this.local.publish(event);
    this.notifications.notify(QUEUE_CHANNEL, this.payloadFor(event)).catch((err: unknown) => {
      this.log(`error: queue announcement not sent (other processes notice within their cache lifetime): ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  subscribe(listener: QueueListener): () => void {
    return this.local.subscribe(listener);
  }

  get listenerCount(): number {
    return this.local.listenerCount;
  }

  async close(): Promise<void> {
    this.stopWatching?.();
    await this.stopListening?.();
    await this.local.close();
  }

  private payloadFor(event: QueueEvent): string {
    if (event.kind === 'builds') {
      // One entry per distinct tag list: a pipeline of 500 alike jobs is one announcement.
      const tagLists = [...new Map(event.tagLists.map((tags) => [JSON.stringify([...tags].sort()), tags])).values()];
      const payload = JSON.stringify({ origin: this.origin, event: { ...event, tagLists } });
      // Too many distinct tag lists for one notification: everyone looks again instead.
      if (payload.length <= MAX_PAYLOAD_CHARS) return payload;
      return JSON.stringify({ origin: this.origin, event: { kind: 'reset' } });
    }
    return JSON.stringify({ origin: this.origin, event });
  }

  private received(payload: string): void {
    let message: { origin?: unknown; event?: QueueEvent };
    try {
      message = JSON.parse(payload) as typeof message;
    } catch {
      return;
    }
    if (message.origin === this.origin || !message.event) return;
    this.local.publish(message.event);
  }
}
