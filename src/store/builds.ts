import type { components } from '../generated/api.js';
import { forgetAllArtifacts } from './artifacts.js';
import type { Db } from './db.js';
import { bool, int, intOrNull, json } from './rows.js';
import type { RunnerApiVersion } from './runners.js';
import { findRowByToken, tokenDigest } from './tokenDigests.js';
import { tokenVaultOf, type TokenVault } from './tokenVault.js';

export type BuildStatus = components['schemas']['BuildStatus'];
export type BuildOptions = components['schemas']['BuildOptions'];
export type BuildVariable = components['schemas']['BuildVariable'];
export type JobWhen = components['schemas']['Job']['when'];

export interface BuildRecord {
  id: number;
  pipelineId: number;
  projectId: number;
  name: string;
  stage: string;
  stageIdx: number;
  status: BuildStatus;
  when: JobWhen;
  allowFailure: boolean;
  ref: string;
  tag: boolean;
  commands: string;
  options: BuildOptions;
  yamlVariables: BuildVariable[];
  tagList: string[];
  /** In memory only: stored sealed (`token_sealed`) and as a digest for lookups (`token_digest`). */
  token: string;
  runnerId: number | null;
  traceLength: number;
  createdAt: string;
  queuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  erasedAt: string | null;
  /** Which runner API handed the build out (null: never handed out, or before v4 existed). */
  runnerApi: RunnerApiVersion | null;
  /** A v4 runner that cancels gracefully holds it: a user cancel goes through `canceling`. */
  cancelGracefully: boolean;
  failureReason: string | null;
  exitCode: number | null;
  /** Since when a final v4 update has been waiting for the stored log to match its output. */
  finalUpdatePendingSince: string | null;
}

export type NewBuildRecord = Pick<
  BuildRecord,
  | 'pipelineId' | 'projectId' | 'name' | 'stage' | 'stageIdx' | 'when' | 'allowFailure' | 'ref' | 'tag'
  | 'commands' | 'options' | 'yamlVariables' | 'tagList' | 'token' | 'createdAt'
>;

export async function insertBuilds(db: Db, builds: NewBuildRecord[]): Promise<void> {
  // One row at a time: knex cannot insert an empty batch, and batches of JSON text are
  // no faster on SQLite inside a transaction.
  const vault = tokenVaultOf(db);
  for (const build of builds) {
    await db('builds').insert({
      pipeline_id: build.pipelineId,
      project_id: build.projectId,
      name: build.name,
      stage: build.stage,
      stage_idx: build.stageIdx,
      status: 'created',
      when: build.when,
      allow_failure: build.allowFailure,
      ref: build.ref,
      tag: build.tag,
      commands: build.commands,
      options: JSON.stringify(build.options),
      yaml_variables: JSON.stringify(build.yamlVariables),
      tag_list: JSON.stringify(build.tagList),
      ...storedBuildToken(vault, build.token),
      created_at: build.createdAt,
      updated_at: build.createdAt,
    });
  }
}

export async function findBuild(db: Db, id: number): Promise<BuildRecord | undefined> {
  if (!Number.isSafeInteger(id)) return undefined;
  const row = await db('builds').where({ id }).first();
  return row ? buildFromRow(row, tokenVaultOf(db)) : undefined;
}

/**
 * The build whose job token this is: the one place a build is looked up by its token (a v4
 * dependency download carries the downloading job's), by the token's digest.
 */
export async function findBuildByToken(db: Db, token: string): Promise<BuildRecord | undefined> {
  const row = await findRowByToken(db, 'builds', 'token_digest', token);
  return row ? buildFromRow(row, tokenVaultOf(db)) : undefined;
}

function storedBuildToken(vault: TokenVault, token: string): { token_digest: string; token_sealed: string } {
  return { token_digest: tokenDigest(token), token_sealed: vault.seal(token) };
}

export async function findBuildInProject(db: Db, projectId: number, id: number): Promise<BuildRecord | undefined> {
  const row = await db('builds').where({ id, project_id: projectId }).first();
  return row ? buildFromRow(row, tokenVaultOf(db)) : undefined;
}

export async function listPipelineBuilds(db: Db, pipelineId: number): Promise<BuildRecord[]> {
  const rows = await db('builds').where({ pipeline_id: pipelineId }).orderBy([{ column: 'stage_idx' }, { column: 'id' }]);
  const vault = tokenVaultOf(db);
  return rows.map((row) => buildFromRow(row, vault));
}

/** Each build's pipeline's builds in stages before its own, in listPipelineBuilds' order, in one query for all of them (a batch of claims' payloads). */
export async function listEarlierStageBuildsOf(db: Db, builds: readonly Pick<BuildRecord, 'id' | 'pipelineId' | 'stageIdx'>[]): Promise<Map<number, BuildRecord[]>> {
  const byBuild = new Map<number, BuildRecord[]>(builds.map((build) => [build.id, []]));
  const latestStage = new Map<number, number>();
  for (const build of builds) latestStage.set(build.pipelineId, Math.max(build.stageIdx, latestStage.get(build.pipelineId) ?? 0));
  const asked = [...latestStage].filter(([, stageIdx]) => stageIdx > 0);
  if (asked.length === 0) return byBuild;
  const rows: Record<string, unknown>[] = await db('builds')
    .where((query) => {
      for (const [pipelineId, stageIdx] of asked) query.orWhere((one) => one.where('pipeline_id', pipelineId).andWhere('stage_idx', '<', stageIdx));
    })
    .orderBy([{ column: 'stage_idx' }, { column: 'id' }]);
  const vault = tokenVaultOf(db);
  const earlier = rows.map((row) => buildFromRow(row, vault));
  for (const build of builds) byBuild.set(build.id, earlier.filter((other) => other.pipelineId === build.pipelineId && other.stageIdx < build.stageIdx));
  return byBuild;
}

/**
 * Moves a build from one of `from` to `to`, only if it is still in one of them:
 * the conditional update is what keeps two racing writers from both winning.
 */
export async function transitionBuild(
  db: Db,
  id: number,
  from: BuildStatus[],
  to: BuildStatus,
  changes: Record<string, unknown>,
): Promise<boolean> {
  const updated = await db('builds').where({ id }).whereIn('status', from).update({ status: to, ...changes });
  return updated === 1;
}

/** A row of `builds` as a record; `vault` opens its sealed token. */
export function buildFromRow(row: Record<string, unknown>, vault: TokenVault): BuildRecord {
  const sealed = String(row.token_sealed);
  let token: string | undefined;
  return {
    id: int(row.id),
    pipelineId: int(row.pipeline_id),
    projectId: int(row.project_id),
    name: String(row.name),
    stage: String(row.stage),
    stageIdx: int(row.stage_idx),
    status: row.status as BuildStatus,
    when: row.when as JobWhen,
    allowFailure: bool(row.allow_failure),
    ref: String(row.ref),
    tag: bool(row.tag),
    commands: String(row.commands),
    options: json<BuildOptions>(row.options, {}),
    yamlVariables: json<BuildVariable[]>(row.yaml_variables, []),
    tagList: json<string[]>(row.tag_list, []),
    // Opened when first read: most records (queue scans, listings) never need it.
    get token() {
      return (token ??= vault.open(sealed));
    },
    runnerId: intOrNull(row.runner_id),
    traceLength: int(row.trace_length),
    createdAt: String(row.created_at),
    queuedAt: (row.queued_at as string | null) ?? null,
    startedAt: (row.started_at as string | null) ?? null,
    finishedAt: (row.finished_at as string | null) ?? null,
    updatedAt: String(row.updated_at),
    erasedAt: (row.erased_at as string | null) ?? null,
    runnerApi: (row.runner_api as RunnerApiVersion | null) ?? null,
    cancelGracefully: bool(row.cancel_gracefully ?? false),
    failureReason: (row.failure_reason as string | null) ?? null,
    exitCode: intOrNull(row.exit_code),
    finalUpdatePendingSince: (row.final_update_pending_since as string | null) ?? null,
  };
}

/** The fields a retried build takes over from the build it repeats: its whole definition. */
export interface BuildCopy {
  token: string;
  status: 'created' | 'pending';
  now: string;
}

/** A new build with `source`'s definition, a fresh token and no runner, trace or artifacts. */
export async function insertBuildCopy(db: Db, source: BuildRecord, copy: BuildCopy): Promise<BuildRecord> {
  const [row] = await db('builds')
    .insert({
      pipeline_id: source.pipelineId,
      project_id: source.projectId,
      name: source.name,
      stage: source.stage,
      stage_idx: source.stageIdx,
      status: copy.status,
      when: source.when,
      allow_failure: source.allowFailure,
      ref: source.ref,
      tag: source.tag,
      commands: source.commands,
      options: JSON.stringify(source.options),
      yaml_variables: JSON.stringify(source.yamlVariables),
      tag_list: JSON.stringify(source.tagList),
      ...storedBuildToken(tokenVaultOf(db), copy.token),
      created_at: copy.now,
      queued_at: copy.status === 'pending' ? copy.now : null,
      updated_at: copy.now,
    })
    .returning('*');
  return buildFromRow(row, tokenVaultOf(db));
}

/** Whether a later build of the same name exists in the build's pipeline (it was retried). */
export async function hasNewerBuildNamed(db: Db, build: Pick<BuildRecord, 'id' | 'pipelineId' | 'name'>): Promise<boolean> {
  const row = await db('builds').where({ pipeline_id: build.pipelineId, name: build.name }).andWhere('id', '>', build.id).first('id');
  return row !== undefined;
}

/**
 * Sets `erased_at` (kept from a first erase) on a build still in one of `from`, and forgets
 * its artifacts. Answers false when the build was no longer in one of them, else the file
 * keys of the artifacts it forgot: the caller removes those files. Must run in
 * a transaction: the first UPDATE is the claim and takes the write lock (on PostgreSQL the
 * row lock) before the key is read, so no upload can slip a new archive in between, and
 * after it no upload lands at all (they require `erased_at` unset).
 */
export async function markBuildErased(trx: Db, id: number, from: BuildStatus[], now: string): Promise<{ artifactsFileKeys: string[] } | false> {
  const updated = await trx('builds')
    .where({ id })
    .whereIn('status', from)
    .update({ erased_at: trx.raw('coalesce(erased_at, ?)', [now]), updated_at: now });
  if (updated !== 1) return false;
  return { artifactsFileKeys: await forgetAllArtifacts(trx, id) };
}

/** Up to `limit` ids of the project's builds, lowest first. */
export async function listProjectBuildIds(db: Db, projectId: number, limit: number): Promise<number[]> {
  const rows: { id: unknown }[] = await db('builds').where({ project_id: projectId }).orderBy('id').limit(limit).select('id');
  return rows.map((row) => int(row.id));
}

/** Removes builds and their trace chunks. */
export async function deleteBuilds(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db('trace_chunks').whereIn('build_id', ids).delete();
  await db('job_artifacts').whereIn('build_id', ids).delete();
  await db('builds').whereIn('id', ids).delete();
}
