import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import type { Clock } from '../../src/domain/clock.js';
import { startCoordinator, type RunningCoordinator } from '../../src/runtime.js';
import { createLogger } from '../../src/observability/logger.js';
import type { DestinationStream } from 'pino';
import { PassThrough } from 'node:stream';
import { createTestDatabase, isPostgresRun } from './database.js';

export interface TestCoordinator extends RunningCoordinator {
  config: Config;
  dataDir: string;
  registrationToken: string;
  adminToken: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

export interface TestCoordinatorOptions {
  /** Receives every log line (JSON) the server writes; without it the server logs nothing. */
  logTo?: DestinationStream;
  /** The store, when not the run's (benchmarks measure both in one run): PostgreSQL needs TEST_DATABASE_URL. */
  store?: 'sqlite' | 'postgres';
}

/**
 * A real coordinator on 127.0.0.1 and a free port, with its own temporary data directory and a
 * fresh database of the store the run uses (test/support/database.ts): a SQLite file in the data
 * directory, or a new PostgreSQL database. `env` overrides configuration as the environment
 * would; a DATABASE_URL in it shares another coordinator's database, which this one then leaves
 * alone on stop.
 */
export async function startTestCoordinator(env: Record<string, string> = {}, clock?: Clock, options: TestCoordinatorOptions = {}): Promise<TestCoordinator> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-test-'));
  // On SQLite the default DATABASE_URL (a file in DATA_DIR) is already fresh.
  const onPostgres = options.store ? options.store === 'postgres' : isPostgresRun();
  const database = env.DATABASE_URL || !onPostgres ? undefined : await createTestDatabase(dataDir);
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    CI_REGISTRATION_TOKEN: 'registration-token-for-tests',
    CI_ADMIN_TOKEN: 'admin-token-for-tests',
    // Housekeeping passes run when a test asks (coordinator.housekeeping.runOnce()), never
    // on a timer that could fire mid-test after the test's clock moved on by days.
    HOUSEKEEPING_INTERVAL_SECONDS: '0',
    // Build requests answer at once unless a test asks for long polling (CI_LONG_POLL_SECONDS).
    CI_LONG_POLL_SECONDS: '0',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  const logger = options.logTo ? createLogger(config, options.logTo) : createLogger({ logLevel: 'silent', logFormat: 'json' }, new PassThrough());
  let running: RunningCoordinator;
  try {
    running = await startCoordinator(config, { clock, logger, ...(options.logTo ? {} : { log: () => {} }) });
  } catch (err) {
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...running,
    config,
    dataDir,
    // Only digests are kept: the plain tokens are the configured (or just generated) ones.
    registrationToken: config.registrationToken ?? running.generatedTokens.registrationToken ?? '',
    adminToken: config.adminToken ?? running.generatedTokens.adminToken ?? '',
    async stop() {
      await running.close();
      await database?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
