import type { Db } from './db.js';
import { bool, int, json } from './rows.js';

/** What a runner says about itself (`info[...]`), as stored on its row. */
export interface RunnerVersionInfo {
  name: string | null;
  version: string | null;
  revision: string | null;
  platform: string | null;
  architecture: string | null;
}

export interface RunnerRecord extends RunnerVersionInfo {
  id: number;
  token: string;
  description: string | null;
  isShared: boolean;
  active: boolean;
  locked: boolean;
  runUntagged: boolean;
  tagList: string[];
  contactedAt: string | null;
  createdAt: string;
}

export type NewRunnerRecord = Omit<RunnerRecord, 'id' | 'active' | 'contactedAt'>;

/** Inserts a runner and, for a specific runner, its link to `projectId`, as one step. */
export async function insertRunner(db: Db, runner: NewRunnerRecord, projectId?: number): Promise<RunnerRecord> {
  return db.transaction(async (trx) => {
    const [row] = await trx('runners')
      .insert({
        token: runner.token,
        description: runner.description,
        is_shared: runner.isShared,
        locked: runner.locked,
        run_untagged: runner.runUntagged,
        tag_list: JSON.stringify(runner.tagList),
        name: runner.name,
        version: runner.version,
        revision: runner.revision,
        platform: runner.platform,
        architecture: runner.architecture,
        created_at: runner.createdAt,
      })
      .returning('*');
    const inserted = runnerFromRow(row);
    if (projectId !== undefined) await trx('runner_projects').insert({ runner_id: inserted.id, project_id: projectId });
    return inserted;
  });
}

export async function findRunnerByToken(db: Db, token: string): Promise<RunnerRecord | undefined> {
  const row = await db('runners').where({ token }).first();
  return row ? runnerFromRow(row) : undefined;
}

export async function findRunner(db: Db, id: number): Promise<RunnerRecord | undefined> {
  const row = await db('runners').where({ id }).first();
  return row ? runnerFromRow(row) : undefined;
}

export async function listRunnerProjectIds(db: Db, runnerId: number): Promise<number[]> {
  const rows = await db('runner_projects').where({ runner_id: runnerId }).orderBy('project_id').select('project_id');
  return rows.map((row: Record<string, unknown>) => int(row.project_id));
}

/**
 * Deletes a runner and its project links. Its builds keep their history; the schema's
 * ON DELETE SET NULL clears their runner_id (GitLab kept the dangling id).
 */
export async function deleteRunner(db: Db, id: number): Promise<boolean> {
  return db.transaction(async (trx) => {
    await trx('runner_projects').where({ runner_id: id }).delete();
    return (await trx('runners').where({ id }).delete()) === 1;
  });
}

/**
 * Sets `contacted_at` and the given version fields, but only when the stored contact is
 * missing or older than `staleBefore`: the condition is in the UPDATE itself, so polls
 * racing each other write at most once per interval.
 */
export async function touchRunnerContact(
  db: Db,
  id: number,
  contactedAt: string,
  staleBefore: string,
  info: Partial<RunnerVersionInfo>,
): Promise<void> {
  await db('runners')
    .where({ id })
    .andWhere((q) => q.whereNull('contacted_at').orWhere('contacted_at', '<', staleBefore))
    .update({ contacted_at: contactedAt, ...info });
}

export function runnerFromRow(row: Record<string, unknown>): RunnerRecord {
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  return {
    id: int(row.id),
    token: String(row.token),
    description: text(row.description),
    isShared: bool(row.is_shared),
    active: bool(row.active),
    locked: bool(row.locked),
    runUntagged: bool(row.run_untagged),
    tagList: json<string[]>(row.tag_list, []),
    name: text(row.name),
    version: text(row.version),
    revision: text(row.revision),
    platform: text(row.platform),
    architecture: text(row.architecture),
    contactedAt: text(row.contacted_at),
    createdAt: String(row.created_at),
  };
}
