import type { components } from '../generated/api.js';
import type { Db } from '../store/db.js';
import { pendingMigrations, pingDatabase, probeDataDir } from '../store/health.js';

type Readiness = components['schemas']['Readiness'];
type HealthCheck = components['schemas']['HealthCheck'];

/** How long one check may take before it counts as failed: a load balancer wants an answer. */
const CHECK_TIMEOUT_MS = 5000;

/**
 * GitLab's readiness checks, ours being: the database answers, every migration is
 * applied, and DATA_DIR takes writes (artifacts and uploads land there).
 */
export async function checkReadiness(db: Db, dataDir: string): Promise<Readiness> {
  const [dbCheck, migrationsCheck, dataDirCheck] = await Promise.all([
    check(() => pingDatabase(db)),
    check(async () => {
      const pending = await pendingMigrations(db);
      if (pending.length > 0) throw new Error(`migrations not applied: ${pending.join(', ')}`);
    }),
    check(() => probeDataDir(dataDir)),
  ]);
  const all = [dbCheck, migrationsCheck, dataDirCheck];
  return {
    status: all.every((result) => result.status === 'ok') ? 'ok' : 'failed',
    db_check: [dbCheck],
    migrations_check: [migrationsCheck],
    data_dir_check: [dataDirCheck],
  };
}

async function check(run: () => Promise<void>): Promise<HealthCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([run(), timeout]);
    return { status: 'ok' };
  } catch (err) {
    return { status: 'failed', message: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
