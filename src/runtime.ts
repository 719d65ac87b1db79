import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { createApp } from './app.js';
import { systemClock, type Clock } from './domain/clock.js';
import { resolveInstanceTokens, type InstanceTokens } from './domain/instanceTokens.js';
import { openDatabase, type Db } from './store/db.js';
import { removeStaleUploads } from './store/artifacts.js';
import { resumeProjectDeletions } from './domain/projectDeletion.js';
import { BackgroundWork } from './domain/backgroundWork.js';
import { HousekeepingSchedule, runHousekeeping, type HousekeepingReport } from './domain/housekeeping.js';

export interface RunningCoordinator {
  url: string;
  db: Db;
  tokens: InstanceTokens;
  /** Tokens generated on this start (first start only), to be printed once. */
  generatedTokens: Partial<InstanceTokens>;
  /** Runs on its own every HOUSEKEEPING_INTERVAL_SECONDS; runOnce is one pass now (tests, tools). */
  housekeeping: { runOnce(): Promise<HousekeepingReport> };
  close(): Promise<void>;
}

/** An upload nobody has written to for this long belongs to a process that died. */
const STALE_UPLOAD_MS = 60 * 60 * 1000;

export interface StartOptions {
  clock?: Clock;
  log?: (line: string) => void;
}

/** Opens the database, builds the app and listens on config.host:config.port (0 = any free port). */
export async function startCoordinator(config: Config, options: StartOptions = {}): Promise<RunningCoordinator> {
  const log = options.log ?? ((line: string) => console.log(line));
  const db = await openDatabase(config.databaseUrl);
  const { tokens, generated } = await resolveInstanceTokens(db, config);
  const clock = options.clock ?? systemClock;
  await removeStaleUploads(config.dataDir, STALE_UPLOAD_MS, clock.now());
  const background = new BackgroundWork();
  background.track(resumeProjectDeletions({ db, config, log }));
  const app = await createApp({ db, config, tokens, clock, log, background });
  const server = http.createServer(app.callback());
  // The final PUT of a long build can carry megabytes; don't let Node cut slow uploads short.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const runOnce = () => runHousekeeping({ db, clock, dataDir: config.dataDir, stuckBuildTimeoutMs: config.stuckBuildTimeoutMs });
  const schedule = new HousekeepingSchedule(runOnce, config.housekeepingIntervalMs, log);
  schedule.start();
  return {
    url: `http://${host}:${port}`,
    db,
    tokens,
    generatedTokens: generated,
    housekeeping: { runOnce },
    async close() {
      await schedule.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await background.settled();
      await db.destroy();
    },
  };
}
