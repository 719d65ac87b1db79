import type { DatabaseFigures } from '../observability/metrics.js';
import type { Db } from '../store/db.js';
import { countBuildsByStatus, countQueuedBuilds, countRunnersContactedSince } from '../store/statistics.js';
import type { Clock } from './clock.js';
import { onlineSince } from './runnerAdmin.js';

/** The figures /metrics reads from the database at each scrape. */
export async function databaseFigures(db: Db, clock: Clock): Promise<DatabaseFigures> {
  return {
    buildsByStatus: await countBuildsByStatus(db),
    queueDepth: await countQueuedBuilds(db),
    onlineRunners: await countRunnersContactedSince(db, onlineSince(clock.now())),
  };
}
