import type { Db } from './db.js';
import { int } from './rows.js';

/** A host that runs under a runner's token, known by the `system_id` it sends (GitLab's runner manager). */
export interface RunnerManagerRecord {
  id: number;
  runnerId: number;
  systemId: string;
  createdAt: string;
  contactedAt: string | null;
}

/**
 * Records that `systemId` runs under the runner, once: a manager seen before keeps its row
 * (and its created_at), and only its contact time moves. Concurrent first calls from one
 * host make one row (the unique key decides; the loser's insert is ignored).
 */
export async function recordRunnerManager(db: Db, runnerId: number, systemId: string, now: string): Promise<void> {
  await db('runner_managers')
    .insert({ runner_id: runnerId, system_id: systemId, created_at: now, contacted_at: now })
    .onConflict(['runner_id', 'system_id'])
    .merge({ contacted_at: now });
}

/** Removes one manager of the runner; false when the runner has none with that system_id. */
export async function deleteRunnerManager(db: Db, runnerId: number, systemId: string): Promise<boolean> {
  return (await db('runner_managers').where({ runner_id: runnerId, system_id: systemId }).delete()) > 0;
}

export async function listRunnerManagers(db: Db, runnerId: number): Promise<RunnerManagerRecord[]> {
  const rows: Record<string, unknown>[] = await db('runner_managers').where({ runner_id: runnerId }).orderBy('id');
  return rows.map((row) => ({
    id: int(row.id),
    runnerId: int(row.runner_id),
    systemId: String(row.system_id),
    createdAt: String(row.created_at),
    contactedAt: row.contacted_at === null || row.contacted_at === undefined ? null : String(row.contacted_at),
  }));
}
