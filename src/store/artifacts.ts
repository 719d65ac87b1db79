import fs from 'node:fs/promises';
import type { ReadStream } from 'node:fs';
import path from 'node:path';
import type { Db } from './db.js';
import { int } from './rows.js';

/**
 * A build's artifacts: each one a file on disk under DATA_DIR, and its type, format, name,
 * size, expiry and file key in a job_artifacts row. Every upload gets a file of its own, named by a random key
 * the server made (never request text), so replacing, expiring or deleting one archive
 * can only ever remove that archive's file, never a newer upload's.
 */
export function artifactsDirectory(dataDir: string, buildId: number): string {
  return path.join(dataDir, 'artifacts', String(buildId));
}

/** Keys are server-made tokens (or `artifacts` for archives stored before keys existed). */
const FILE_KEY = /^[A-Za-z0-9]+$/;

export function artifactsFilePath(dataDir: string, buildId: number, fileKey: string): string {
  if (!FILE_KEY.test(fileKey)) throw new Error(`build ${buildId}: malformed artifacts file key`);
  return path.join(artifactsDirectory(dataDir, buildId), `${fileKey}.zip`);
}

/** Where uploads are written while they stream; on the same filesystem as the archives, so `rename` is atomic. */
export function uploadTempDir(dataDir: string): string {
  return path.join(dataDir, 'tmp');
}

/**
 * Moves a complete, already fsynced upload to its own file, next to the archive it will
 * replace. The rename is made durable before any row names the file.
 */
export async function installArtifactsFile(dataDir: string, buildId: number, fileKey: string, uploadedFile: string): Promise<void> {
  const target = artifactsFilePath(dataDir, buildId, fileKey);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.rename(uploadedFile, target);
  await syncDirectory(path.dirname(target));
}

export async function removeArtifactsFile(dataDir: string, buildId: number, fileKey: string): Promise<void> {
  await fs.rm(artifactsFilePath(dataDir, buildId, fileKey), { force: true });
}

/**
 * The archive, opened before its size is read, so size and bytes belong to the same file.
 * Undefined when the file is gone (removed after its row was read). A download that has
 * opened it keeps reading it even if it is removed meanwhile.
 */
export async function openArtifactsFile(dataDir: string, buildId: number, fileKey: string): Promise<{ stream: ReadStream; size: number } | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(artifactsFilePath(dataDir, buildId, fileKey), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    // A bounded range ends the stream right after its last byte, not one read later: a
    // client that has its Content-Length and hangs up must not see the response cut short.
    return { stream: handle.createReadStream({ start: 0, end: Math.max(0, size - 1) }), size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** What a stored artifact's row says about it. */
export interface ArtifactsColumns {
  filename: string;
  size: number;
  expireAt: string | null;
  fileKey: string;
}

/** A stored artifact of a build: one per build and type (GitLab's `ci_job_artifacts`). */
export interface JobArtifactRecord extends ArtifactsColumns {
  buildId: number;
  /** `archive` (the v1 archive, what dependencies download), `metadata`, `junit`, ... */
  fileType: string;
  /** `zip`, `gzip` or `raw`. */
  fileFormat: string;
}

/** The build's artifact of `fileType` now; undefined when there is none or no such build. */
export async function findJobArtifact(db: Db, buildId: number, fileType: string): Promise<JobArtifactRecord | undefined> {
  const row: Record<string, unknown> | undefined = await db('job_artifacts').where({ build_id: buildId, file_type: fileType }).first();
  return row && jobArtifactFromRow(row);
}

/** The `archive` of each of these builds that has one, by build id (one query for a listing). */
export async function listArchives(db: Db, buildIds: readonly number[]): Promise<Map<number, JobArtifactRecord>> {
  const archives = new Map<number, JobArtifactRecord>();
  if (buildIds.length === 0) return archives;
  const rows: Record<string, unknown>[] = await db('job_artifacts').whereIn('build_id', [...new Set(buildIds)]).andWhere({ file_type: ARCHIVE });
  for (const row of rows) archives.set(int(row.build_id), jobArtifactFromRow(row));
  return archives;
}

/** Every artifact of the build, by type. */
export async function listJobArtifacts(db: Db, buildId: number): Promise<JobArtifactRecord[]> {
  const rows: Record<string, unknown>[] = await db('job_artifacts').where({ build_id: buildId }).orderBy('file_type');
  return rows.map(jobArtifactFromRow);
}

/** The type of the archive of a build: what v1 stores and every dependency downloads. */
export const ARCHIVE = 'archive';

/**
 * The file key of the build's artifact of `fileType` (null when it has none yet), only if
 * the build can still take artifacts (not erased, project not being deleted); undefined
 * when it can no longer take them.
 */
export async function findReplaceableArtifactsKey(db: Db, buildId: number, fileType: string): Promise<{ fileKey: string | null } | undefined> {
  const build: Record<string, unknown> | undefined = await replaceableBuild(db, buildId).first('id');
  if (!build) return undefined;
  const artifact = await findJobArtifact(db, buildId, fileType);
  return { fileKey: artifact?.fileKey ?? null };
}

/**
 * Records `artifacts` as the build's artifact of `fileType` in place of the one keyed
 * `previousKey` (null: none), only if the row still names that one and the build can still
 * take artifacts. A concurrent upload, delete, expiry, erase or project deletion in between
 * makes this change nothing. True when this call made the change, i.e. when the caller owns
 * the removal of `previousKey`'s file. The build's row is locked first (a no-op UPDATE, as
 * erasing locks it), so an erase either sees this artifact or stops it.
 */
export async function replaceArtifacts(
  db: Db,
  buildId: number,
  fileType: string,
  fileFormat: string,
  previousKey: string | null,
  artifacts: ArtifactsColumns,
  now: string,
): Promise<boolean> {
  return db.transaction(async (trx) => {
    const locked = await replaceableBuild(trx, buildId).update({ id: trx.ref('id') });
    if (locked !== 1) return false;
    const columns = { file_format: fileFormat, filename: artifacts.filename, size: artifacts.size, expire_at: artifacts.expireAt, file_key: artifacts.fileKey };
    if (previousKey !== null) {
      return (await trx('job_artifacts').where({ build_id: buildId, file_type: fileType, file_key: previousKey }).update(columns)) === 1;
    }
    const inserted = await trx('job_artifacts')
      .insert({ build_id: buildId, file_type: fileType, created_at: now, ...columns })
      .onConflict(['build_id', 'file_type'])
      .ignore()
      .returning('id');
    return inserted.length === 1;
  });
}

function replaceableBuild(db: Db, buildId: number) {
  return db('builds')
    .where({ id: buildId })
    .whereNull('erased_at')
    .whereIn('project_id', db('projects').where({ pending_delete: false }).select('id'));
}

/**
 * Forgets the build's artifact keyed `fileKey` only if its row still names that file. True
 * when this call removed the row, i.e. when the caller owns the removal of that file.
 */
export async function forgetArtifacts(db: Db, buildId: number, fileKey: string): Promise<boolean> {
  return (await db('job_artifacts').where({ build_id: buildId, file_key: fileKey }).delete()) === 1;
}

/** Forgets every artifact of the build (erase); answers the file keys whose files the caller removes. */
export async function forgetAllArtifacts(db: Db, buildId: number): Promise<string[]> {
  const rows: { file_key: string }[] = await db('job_artifacts').where({ build_id: buildId }).select('file_key');
  await db('job_artifacts').where({ build_id: buildId }).delete();
  return rows.map((row) => String(row.file_key));
}

function jobArtifactFromRow(row: Record<string, unknown>): JobArtifactRecord {
  return {
    buildId: int(row.build_id),
    fileType: String(row.file_type),
    fileFormat: String(row.file_format),
    filename: String(row.filename),
    size: int(row.size),
    expireAt: (row.expire_at as string | null) ?? null,
    fileKey: String(row.file_key),
  };
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes temporary uploads that a crashed process left behind. Only files untouched
 * for `olderThanMs` go: another server process sharing DATA_DIR may be streaming into
 * a fresh one right now.
 */
export async function removeStaleUploads(dataDir: string, olderThanMs: number, now: Date): Promise<number> {
  const dir = uploadTempDir(dataDir);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat?.isFile() && now.getTime() - stat.mtimeMs > olderThanMs) {
      await fs.rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
