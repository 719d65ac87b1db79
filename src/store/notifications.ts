/**
 * Notifications between server processes: PostgreSQL's LISTEN/NOTIFY, so that something that
 * happened in one process (a build queued, a runner paused) reaches the others at once. On
 * SQLite there is no such channel, and the embedded store serves one process: notifications go
 * to this process's own listeners, so the same code path works on both stores.
 */
import pg from 'pg';
import type { Db } from './db.js';
import { isPostgres } from './dialect.js';

export type NotificationHandler = (payload: string) => void;

export interface Notifications {
  /**
   * Sends `payload` to every listener of `channel`, in every process (this one included).
   * PostgreSQL: pg_notify through `executor` (the pool by default); from a transaction it is
   * delivered at its commit, and not at all on rollback. SQLite: to this process, at once.
   * PostgreSQL limits a payload to 8,000 bytes.
   */
  notify(channel: string, payload: string, executor?: Db): Promise<void>;
  /**
   * Calls `handler` with the payload of every notification on `channel`. Resolves once the
   * LISTEN is in effect, or, while the connection is lost, once it is registered to be made
   * when the connection is back. Answers a function that stops this handler.
   */
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  /** `lost`: the listening connection broke; `restored`: it is back (notifications in between are lost: resynchronise). */
  onConnectionChange(handler: (state: 'lost' | 'restored') => void): () => void;
  /** Handlers registered now (on every channel, and for connection changes). */
  handlerCount(): number;
  close(): Promise<void>;
}

/** Delay before reconnecting the listener: doubles from the first to the last. */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 5000;

export function openNotifications(db: Db, log: (line: string) => void): Notifications {
  return isPostgres(db) ? new PostgresNotifications(db, log) : new InProcessNotifications(log);
}

/** The listeners of each channel; a handler that throws is logged and never stops the others. */
class ChannelHandlers {
  private readonly handlers = new Map<string, Set<NotificationHandler>>();

  constructor(private readonly log: (line: string) => void) {}

  /** True when this is the channel's first handler. */
  add(channel: string, handler: NotificationHandler): boolean {
    const existing = this.handlers.get(channel);
    if (existing) {
      existing.add(handler);
      return false;
    }
    this.handlers.set(channel, new Set([handler]));
    return true;
  }

  /** True when the channel has no handler left. */
  remove(channel: string, handler: NotificationHandler): boolean {
    const existing = this.handlers.get(channel);
    if (!existing?.delete(handler)) return false;
    if (existing.size > 0) return false;
    this.handlers.delete(channel);
    return true;
  }

  channels(): string[] {
    return [...this.handlers.keys()];
  }

  count(): number {
    let count = 0;
    for (const handlers of this.handlers.values()) count += handlers.size;
    return count;
  }

  deliver(channel: string, payload: string): void {
    for (const handler of [...(this.handlers.get(channel) ?? [])]) {
      try {
        handler(payload);
      } catch (err) {
        this.log(`error: notification handler on ${channel}: ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
  }
}

class InProcessNotifications implements Notifications {
  private readonly handlers: ChannelHandlers;

  constructor(log: (line: string) => void) {
    this.handlers = new ChannelHandlers(log);
  }

  async notify(channel: string, payload: string): Promise<void> {
    this.handlers.deliver(channel, payload);
  }

  async listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    this.handlers.add(channel, handler);
    return async () => {
      this.handlers.remove(channel, handler);
    };
  }

  onConnectionChange(): () => void {
    return () => {};
  }

  handlerCount(): number {
    return this.handlers.count();
  }

  async close(): Promise<void> {}
}

/**
 * One pg.Client of its own (a LISTEN belongs to a session, so not one of knex's pooled
 * connections), reconnected with backoff whenever it breaks; every channel is listened to
 * again on the new connection.
 */
class PostgresNotifications implements Notifications {
  private readonly handlers: ChannelHandlers;
  private readonly stateHandlers = new Set<(state: 'lost' | 'restored') => void>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelayMs = RECONNECT_FIRST_MS;
  private closed = false;
  /** Whether a connection was ever made: the first one is not a "restored". */
  private everConnected = false;

  constructor(
    private readonly db: Db,
    private readonly log: (line: string) => void,
  ) {
    this.handlers = new ChannelHandlers(log);
  }

  async notify(channel: string, payload: string, executor: Db = this.db): Promise<void> {
    await executor.raw('select pg_notify(?, ?)', [channel, payload]);
  }

  async listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('notifications are closed');
    if (this.handlers.add(channel, handler)) {
      try {
        await this.connected();
        await this.client?.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch {
        // The connection is down: reconnecting listens to every registered channel.
        this.connectionBroke();
      }
    }
    return async () => {
      if (this.handlers.remove(channel, handler)) {
        await this.client?.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => this.connectionBroke());
      }
    };
  }

  onConnectionChange(handler: (state: 'lost' | 'restored') => void): () => void {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  handlerCount(): number {
    return this.handlers.count() + this.stateHandlers.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.connecting?.catch(() => {});
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /** Connects unless connected (or connecting); rejects when this attempt fails. */
  private connected(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.db.client.config.connection as pg.ClientConfig | string);
    // Without a listener, an 'error' on an idle client would be thrown and end the process.
    client.on('error', () => this.connectionBroke(client));
    client.on('end', () => this.connectionBroke(client));
    client.on('notification', (message) => this.handlers.deliver(message.channel, message.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.handlers.channels()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.reconnectDelayMs = RECONNECT_FIRST_MS;
    const restored = this.everConnected;
    this.everConnected = true;
    if (restored) this.announce('restored');
  }

  /** Drops the broken client (only once, and only the current one) and schedules a reconnect. */
  private connectionBroke(client?: pg.Client): void {
    if (client && client !== this.client) return;
    const wasConnected = this.client !== undefined;
    if (this.client) {
      const broken = this.client;
      this.client = undefined;
      broken.removeAllListeners('end');
      broken.end().catch(() => {});
    }
    if (wasConnected) this.announce('lost');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined || this.handlers.channels().length === 0) return;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connected().catch((err: unknown) => {
        this.log(`notifications: reconnecting to PostgreSQL failed (${err instanceof Error ? err.message : String(err)}), retrying`);
        this.scheduleReconnect();
      });
    }, delay);
    // A reconnect must not keep a stopping process alive.
    this.reconnectTimer.unref();
  }

  private announce(state: 'lost' | 'restored'): void {
    for (const handler of [...this.stateHandlers]) {
      try {
        handler(state);
      } catch (err) {
        this.log(`error: notification state handler: ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
  }
}
