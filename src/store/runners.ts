import type { Knex } from 'knex';
import type { Db } from './db.js';
import { bool, int, intOrNull, json } from './rows.js';
import { tagListHasAll } from './tagLists.js';
import { findRowByToken, tokenDigest } from './tokenDigests.js';

/** What a runner says about itself (`info[...]`), as stored on its row. */
export interface RunnerVersionInfo {
  name: string | null;
  version: string | null;
  revision: string | null;
  platform: string | null;
  architecture: string | null;
}

/** Which runner API a runner registered through: `v1` (/ci/api/v1) or `v4` (/api/v4). */
export type RunnerApiVersion = 'v1' | 'v4';
/** How the runner came to be: GitLab's `registration_type`. */
export type RunnerRegistrationType = 'registration_token' | 'authenticated_user';
export type RunnerAccessLevel = 'not_protected' | 'ref_protected';

/** A runner as stored: its token is known only by digest (`token_digest`), never kept. */
export interface RunnerRecord extends RunnerVersionInfo {
  id: number;
  apiVersion: RunnerApiVersion;
  registrationType: RunnerRegistrationType;
  accessLevel: RunnerAccessLevel;
  /** Seconds; null when the runner sets no maximum. */
  maximumTimeout: number | null;
  maintenanceNote: string | null;
  description: string | null;
  isShared: boolean;
  active: boolean;
  locked: boolean;
  runUntagged: boolean;
  tagList: string[];
  contactedAt: string | null;
  createdAt: string;
}

export type NewRunnerRecord = Omit<RunnerRecord, 'id' | 'contactedAt'>;

/**
 * Inserts a runner with the digest of `token` and, for a specific runner, its link to
 * `projectId`, as one step.
 */
export async function insertRunner(db: Db, runner: NewRunnerRecord, token: string, projectId?: number): Promise<RunnerRecord> {
  return db.transaction(async (trx) => {
    const [row] = await trx('runners')
      .insert({
        token_digest: tokenDigest(token),
        api_version: runner.apiVersion,
        registration_type: runner.registrationType,
        access_level: runner.accessLevel,
        maximum_timeout: runner.maximumTimeout,
        maintenance_note: runner.maintenanceNote,
        description: runner.description,
        is_shared: runner.isShared,
        active: runner.active,
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

/**
 * The one place a runner is looked up by its token (every runner endpoint of both APIs
 * authenticates through it), so that how tokens are kept at rest can change here alone.
 */
export async function findRunnerByToken(db: Db, token: string): Promise<RunnerRecord | undefined> {
  const row = await findRowByToken(db, 'runners', 'token_digest', token);
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

/** The settings an administrator changes (`PUT /runners/:id`). */
export type RunnerSettings = Pick<RunnerRecord, 'description' | 'active' | 'tagList' | 'runUntagged' | 'locked'>;

/** The admin listing's filters; each one left out does not filter. */
export interface RunnerFilter {
  active?: boolean;
  isShared?: boolean;
  /** Only runners whose `contacted_at` is at or after this instant (ISO-8601). */
  contactedSince?: string;
  /** Only runners that made contact, last before this instant (ISO-8601). */
  contactedBefore?: string;
  /** Only runners that never made contact. */
  neverContacted?: boolean;
  /** Only runners that have every one of these tags. */
  tags?: string[];
}

/** A live project a runner is assigned to, as the runner details list it. */
export interface RunnerProjectRef {
  id: number;
  name: string;
}

export async function countRunners(db: Db, filter: RunnerFilter): Promise<number> {
  const [row] = await filteredRunners(db, filter).count({ total: '*' });
  return int(row?.total ?? 0);
}

/** One window of the filtered runners, by id. */
export async function listRunners(db: Db, filter: RunnerFilter, window: { offset: number; limit: number }): Promise<RunnerRecord[]> {
  const rows: Record<string, unknown>[] = await filteredRunners(db, filter)
    .select('runners.*')
    .orderBy('runners.id', 'asc')
    .offset(window.offset)
    .limit(window.limit);
  return rows.map(runnerFromRow);
}

function filteredRunners(db: Db, filter: RunnerFilter): Knex.QueryBuilder {
  const query = db('runners');
  if (filter.active !== undefined) query.where('runners.active', filter.active);
  if (filter.isShared !== undefined) query.where('runners.is_shared', filter.isShared);
  if (filter.contactedSince !== undefined) query.where('runners.contacted_at', '>=', filter.contactedSince);
  if (filter.contactedBefore !== undefined) query.where('runners.contacted_at', '<', filter.contactedBefore);
  if (filter.neverContacted) query.whereNull('runners.contacted_at');
  const tags = [...new Set(filter.tags ?? [])];
  if (tags.length > 0) query.whereRaw(...tagListHasAll(db, 'runners.tag_list', tags));
  return query;
}

/** The live projects a runner is assigned to, by id. */
export async function listRunnerProjects(db: Db, runnerId: number): Promise<RunnerProjectRef[]> {
  const rows: Record<string, unknown>[] = await db('runner_projects as assigned')
    .join('projects as project', 'project.id', 'assigned.project_id')
    .where('assigned.runner_id', runnerId)
    .andWhere('project.pending_delete', false)
    .orderBy('project.id', 'asc')
    .select('project.id', 'project.name');
  return rows.map((row) => ({ id: int(row.id), name: String(row.name) }));
}

/**
 * Runs `work` in a transaction that holds the runner's row lock, so that rules reading
 * the runner and its projects before writing (last project, locked, tags vs
 * run_untagged) hold against concurrent changes, in any server process. The lock is
 * a no-op UPDATE: PostgreSQL locks the row, SQLite takes its write lock at once
 * (waiting out busy_timeout) instead of failing to upgrade a read later. Undefined
 * when there is no such runner.
 */
export async function withLockedRunner<T>(
  db: Db,
  id: number,
  work: (trx: Knex.Transaction, runner: RunnerRecord) => Promise<T>,
): Promise<T | undefined> {
  return db.transaction(async (trx) => {
    const locked = await trx('runners').where({ id }).update({ id: trx.ref('id') });
    if (locked === 0) return undefined;
    const row = await trx('runners').where({ id }).first();
    return work(trx, runnerFromRow(row));
  });
}

export async function updateRunnerSettings(db: Db, id: number, settings: RunnerSettings): Promise<RunnerRecord | undefined> {
  const [row] = await db('runners')
    .where({ id })
    .update({
      description: settings.description,
      active: settings.active,
      tag_list: JSON.stringify(settings.tagList),
      run_untagged: settings.runUntagged,
      locked: settings.locked,
    })
    .returning('*');
  return row ? runnerFromRow(row) : undefined;
}

export async function linkRunnerToProject(db: Db, runnerId: number, projectId: number): Promise<void> {
  await db('runner_projects').insert({ runner_id: runnerId, project_id: projectId });
}

export async function unlinkRunnerFromProject(db: Db, runnerId: number, projectId: number): Promise<boolean> {
  return (await db('runner_projects').where({ runner_id: runnerId, project_id: projectId }).delete()) === 1;
}

export function runnerFromRow(row: Record<string, unknown>): RunnerRecord {
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  return {
    id: int(row.id),
    apiVersion: row.api_version === 'v4' ? 'v4' : 'v1',
    registrationType: row.registration_type === 'authenticated_user' ? 'authenticated_user' : 'registration_token',
    accessLevel: row.access_level === 'ref_protected' ? 'ref_protected' : 'not_protected',
    maximumTimeout: intOrNull(row.maximum_timeout),
    maintenanceNote: text(row.maintenance_note),
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
