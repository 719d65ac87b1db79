import type { BuildStatus } from './builds.js';
import type { Db } from './db.js';
import { int } from './rows.js';

/** How many builds there are of each status. */
export async function countBuildsByStatus(db: Db): Promise<Partial<Record<BuildStatus, number>>> {
  const rows: { status: string; count: unknown }[] = await db('builds').groupBy('status').select('status').count({ count: '*' });
  return Object.fromEntries(rows.map((row) => [row.status, int(row.count)]));
}

/** Pending builds no runner holds, of projects that are not being deleted: the queue. */
export async function countQueuedBuilds(db: Db): Promise<number> {
  const row = await db('builds as build')
    .join('projects as project', 'project.id', 'build.project_id')
    .where('build.status', 'pending')
    .whereNull('build.runner_id')
    .andWhere('project.pending_delete', false)
    .count({ count: '*' })
    .first();
  return int(row?.count ?? 0);
}

export async function countRunnersContactedSince(db: Db, since: string): Promise<number> {
  const row = await db('runners').where('contacted_at', '>=', since).count({ count: '*' }).first();
  return int(row?.count ?? 0);
}
