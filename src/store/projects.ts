import type { Db } from './db.js';
import { bool, int } from './rows.js';
import { findRowByToken, tokenDigest } from './tokenDigests.js';
import { tokenVaultOf, type TokenVault } from './tokenVault.js';

export interface ProjectRecord {
  id: number;
  name: string;
  repoUrl: string;
  ciConfig: string | null;
  /** In memory only: stored sealed (`runners_token_sealed`) and as a digest (`runners_token_digest`). */
  runnersToken: string;
  sharedRunnersEnabled: boolean;
  buildTimeout: number;
  buildAllowGitFetch: boolean;
  pendingDelete: boolean;
  createdAt: string;
}

export type NewProjectRecord = Omit<ProjectRecord, 'id' | 'pendingDelete'>;

export async function insertProject(db: Db, project: NewProjectRecord): Promise<ProjectRecord> {
  const [row] = await db('projects')
    .insert({
      name: project.name,
      repo_url: project.repoUrl,
      ci_config: project.ciConfig,
      runners_token_digest: tokenDigest(project.runnersToken),
      runners_token_sealed: tokenVaultOf(db).seal(project.runnersToken),
      shared_runners_enabled: project.sharedRunnersEnabled,
      build_timeout: project.buildTimeout,
      build_allow_git_fetch: project.buildAllowGitFetch,
      created_at: project.createdAt,
    })
    .returning('*');
  return projectFromRow(row, tokenVaultOf(db));
}

/** Projects pending deletion are invisible, as GitLab's default scope made them. */
export async function findLiveProject(db: Db, id: number): Promise<ProjectRecord | undefined> {
  const row = await db('projects').where({ id, pending_delete: false }).first();
  return row ? projectFromRow(row, tokenVaultOf(db)) : undefined;
}

/** findLiveProject for several projects, in one query (a batch of claims' payloads). */
export async function findLiveProjects(db: Db, ids: readonly number[]): Promise<Map<number, ProjectRecord>> {
  const rows: Record<string, unknown>[] = ids.length ? await db('projects').whereIn('id', [...new Set(ids)]).andWhere({ pending_delete: false }) : [];
  const vault = tokenVaultOf(db);
  return new Map(rows.map((row) => [int(row.id), projectFromRow(row, vault)]));
}

export async function findProjectByRunnersToken(db: Db, token: string): Promise<ProjectRecord | undefined> {
  const row = await findRowByToken(db, 'projects', 'runners_token_digest', token, { pending_delete: false });
  return row ? projectFromRow(row, tokenVaultOf(db)) : undefined;
}

/** A row of `projects` as a record; `vault` opens its sealed runners token. */
export function projectFromRow(row: Record<string, unknown>, vault: TokenVault): ProjectRecord {
  const sealed = String(row.runners_token_sealed);
  let runnersToken: string | undefined;
  return {
    id: int(row.id),
    name: String(row.name),
    repoUrl: String(row.repo_url),
    ciConfig: (row.ci_config as string | null) ?? null,
    // Opened when first read: listings and most lookups never need it.
    get runnersToken() {
      return (runnersToken ??= vault.open(sealed));
    },
    sharedRunnersEnabled: bool(row.shared_runners_enabled),
    buildTimeout: int(row.build_timeout),
    buildAllowGitFetch: bool(row.build_allow_git_fetch),
    pendingDelete: bool(row.pending_delete),
    createdAt: String(row.created_at),
  };
}

/**
 * Flags a live project for deletion in one UPDATE; from then on it is invisible. False
 * when it was unknown or already flagged.
 */
export async function markProjectPendingDelete(db: Db, id: number): Promise<boolean> {
  const updated = await db('projects').where({ id, pending_delete: false }).update({ pending_delete: true });
  return updated === 1;
}

export async function listProjectIdsPendingDelete(db: Db): Promise<number[]> {
  const rows: { id: unknown }[] = await db('projects').where({ pending_delete: true }).orderBy('id').select('id');
  return rows.map((row) => int(row.id));
}

/**
 * Removes what a flagged project still owns besides its builds (removed before, in
 * batches), then the project itself. Idempotent: each delete matches nothing the second time.
 */
export async function deleteFlaggedProjectRows(db: Db, id: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('pipelines').where({ project_id: id }).delete();
    await trx('variables').where({ project_id: id }).delete();
    await trx('triggers').where({ project_id: id }).delete();
    await trx('runner_projects').where({ project_id: id }).delete();
    await trx('projects').where({ id, pending_delete: true }).delete();
  });
}
