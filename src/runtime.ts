import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { createApp } from './app.js';
import { applyServerLimits, serverOptions } from './http/serverLimits.js';
import { ShutdownHooks } from './domain/shutdownHooks.js';
import { systemClock, type Clock } from './domain/clock.js';
import { resolveInstanceTokens, type GeneratedTokens, type InstanceTokens } from './domain/instanceTokens.js';
import { openDatabase, type Db } from './store/db.js';
import { TokenVault } from './store/tokenVault.js';
import { loadOrCreateSecretKey } from './domain/secretKey.js';
import { openNotifications, type Notifications } from './store/notifications.js';
import { removeStaleUploads } from './store/artifacts.js';
import { resumeProjectDeletions } from './domain/projectDeletion.js';
import { BackgroundWork } from './domain/backgroundWork.js';
import { BuildSignals } from './domain/buildSignals.js';
import { bindQueueSignals, NotifyingQueueSignals } from './domain/queueSignals.js';
import { RunnerQueues } from './domain/longPolls.js';
import { RunnerContacts } from './domain/runnerContact.js';
import { ClaimLine } from './domain/claimLine.js';
import { isPostgres } from './store/db.js';
import { createLogger, lineLogger, type Logger } from './observability/logger.js';
import { CoordinatorMetrics } from './observability/metrics.js';
import { databaseFigures } from './domain/statistics.js';
import { HousekeepingSchedule, runHousekeeping, runScheduledHousekeeping, type HousekeepingReport } from './domain/housekeeping.js';

export interface RunningCoordinator {
  url: string;
  /** Set with METRICS_PORT: where /metrics is served instead of on `url`. */
  metricsUrl: string | undefined;
  logger: Logger;
  metrics: CoordinatorMetrics;
  db: Db;
  /** Cross-process messages on the database (src/store/notifications.ts). */
  notifications: Notifications;
  tokens: InstanceTokens;
  /** Tokens generated on this start (first start only), to be printed once. */
  generatedTokens: GeneratedTokens;
  /**
   * Runs on its own every HOUSEKEEPING_INTERVAL_SECONDS, once per interval across all processes
   * on the database; runOnce is one pass now (tests, tools); passesRun counts the scheduled
   * passes this process ran.
   */
  housekeeping: { runOnce(): Promise<HousekeepingReport>; readonly passesRun: number };
  /**
   * Answers every held build request now with "no build", and every later one at once
   * (a graceful shutdown calls it first, so runners are answered instead of cut off).
   */
  releaseLongPolls(): void;
  /** Build requests held open right now. */
  longPollsWaiting(): number;
  /**
   * For tests, what requests could leave behind: wait callbacks still registered, runners
   * remembered, listeners on the shared emitters (queue signals, store notifications) and
   * requests not yet answered or closed.
   */
  leftovers(): { waiters: number; runners: number; queueListeners: number; notificationHandlers: number; requestsInFlight: number };
  /** Settles when every runner contact recorded so far is written (they are written in batches). */
  flushRunnerContacts(): Promise<void>;
  /** Settles when the work answered requests left running is done (a deleted project's data removal): tests, tools. */
  backgroundWorkSettled(): Promise<void>;
  /** Stops at once: connections in flight are cut (tests, and the end of shutdown()). */
  close(): Promise<void>;
  /**
   * SIGTERM: stop accepting connections, answer held long polls with "no build", end live
   * trace streams, let requests in flight finish (each answer then closes its connection),
   * and after SHUTDOWN_TIMEOUT_SECONDS cut whatever is left; then close().
   */
  shutdown(): Promise<void>;
}

/**
 * Build requests of one process scanning the queue at once on PostgreSQL (SQLite has one
 * connection, so one). Below the pool's 10 connections, so trace appends and the user API
 * always find a connection while runners storm the queue.
 */
const POSTGRES_CLAIM_CONCURRENCY = 4;
/** Claims waiting in line committed together, one transaction for up to this many (ClaimLine's group commit). */
const SQLITE_CLAIM_BATCH = 32;
const POSTGRES_CLAIM_BATCH = 16;

/** An upload nobody has written to for this long belongs to a process that died. */
const STALE_UPLOAD_MS = 60 * 60 * 1000;

export interface StartOptions {
  clock?: Clock;
  /** Where log lines go; by default pino on stdout, as LOG_LEVEL and LOG_FORMAT say. */
  logger?: Logger;
  /** Replaces the text-line log of the modules that report lines (tests silence it). */
  log?: (line: string) => void;
}

/** Opens the database, builds the app and listens on config.host:config.port (0 = any free port). */
export async function startCoordinator(config: Config, options: StartOptions = {}): Promise<RunningCoordinator> {
  const logger = options.logger ?? createLogger(config);
  const log = options.log ?? lineLogger(logger);
  const db = await openDatabase(config.databaseUrl, new TokenVault(loadOrCreateSecretKey(config.secretKeyFile)));
  const { tokens, generated } = await resolveInstanceTokens(db, config);
  const clock = options.clock ?? systemClock;
  await removeStaleUploads(config.dataDir, STALE_UPLOAD_MS, clock.now());
  const background = new BackgroundWork();
  background.track(resumeProjectDeletions({ db, config, log }));
  const runnerContacts = new RunnerContacts(db, clock);
  const metrics = new CoordinatorMetrics(() => databaseFigures(db, clock));
  const notifications = openNotifications(db, log);
  const queueSignals = await NotifyingQueueSignals.open(notifications, log);
  bindQueueSignals(db, queueSignals);
  const runnerQueues = new RunnerQueues(db, queueSignals);
  const claimLine = isPostgres(db) ? new ClaimLine(POSTGRES_CLAIM_CONCURRENCY, POSTGRES_CLAIM_BATCH) : new ClaimLine(1, SQLITE_CLAIM_BATCH);
  const shutdownHooks = new ShutdownHooks();
  const app = await createApp({ db, config, tokens, clock, log, logger, metrics, background, buildSignals: new BuildSignals(), runnerQueues, runnerContacts, claimLine, shutdown: shutdownHooks, notifications });
  const handle = app.callback();
  // Once shutting down, every answer (also of a request begun before) closes its connection.
  const answering = new Set<http.ServerResponse>();
  shutdownHooks.register(() => {
    for (const res of answering) if (!res.headersSent) res.setHeader('Connection', 'close');
  });
  const server = http.createServer(serverOptions(config), (req, res) => {
    if (shutdownHooks.shuttingDown) res.setHeader('Connection', 'close');
    answering.add(res);
    res.once('close', () => answering.delete(res));
    void handle(req, res);
  });
  applyServerLimits(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const url = urlOf(server);
  const metricsServer = config.metricsPort === undefined ? undefined : await startMetricsServer(metrics, config.host, config.metricsPort);
  const housekeepingDeps = { db, clock, tokens, dataDir: config.dataDir, stuckBuildTimeoutMs: config.stuckBuildTimeoutMs };
  const runOnce = () => runHousekeeping(housekeepingDeps);
  const interval = config.housekeepingIntervalMs;
  const schedule = new HousekeepingSchedule(() => runScheduledHousekeeping(housekeepingDeps, interval), interval, log);
  schedule.start();
  const running: RunningCoordinator = {
    url,
    metricsUrl: metricsServer && urlOf(metricsServer),
    logger,
    metrics,
    db,
    notifications,
    tokens,
    generatedTokens: generated,
    housekeeping: {
      runOnce,
      get passesRun() {
        return schedule.passesRun;
      },
    },
    releaseLongPolls: () => runnerQueues.releaseAll(),
    longPollsWaiting: () => runnerQueues.size,
    leftovers: () => ({
      ...runnerQueues.holdings(),
      queueListeners: queueSignals.listenerCount,
      notificationHandlers: notifications.handlerCount(),
      requestsInFlight: answering.size,
    }),
    flushRunnerContacts: () => runnerContacts.flush(),
    backgroundWorkSettled: () => background.settled(),
    async shutdown() {
      shutdownHooks.begin();
      runnerQueues.releaseAll();
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.shutdownTimeoutMs)));
      await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      await running.close();
    },
    async close() {
      shutdownHooks.begin();
      runnerQueues.close();
      await schedule.stop();
      if (metricsServer) await closeServer(metricsServer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      await background.settled();
      await runnerContacts.flush().catch(() => {});
      await queueSignals.close();
      await notifications.close();
      await db.destroy();
    },
  };
  return running;
}

function urlOf(server: http.Server): string {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}`;
}

/**
 * METRICS_PORT: /metrics on a port of its own, so that it can stay off the public port.
 * Plain node:http: a scrape needs no routing, validation or tokens.
 */
async function startMetricsServer(metrics: CoordinatorMetrics, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: '404 Not Found' }));
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => res.writeHead(200, { 'Content-Type': contentType }).end(body),
      () => res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: '500 Internal Server Error' })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
