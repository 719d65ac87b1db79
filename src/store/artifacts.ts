import fs from 'node:fs/promises';
import type { ReadStream } from 'node:fs';
import path from 'node:path';
import type { Db } from './db.js';

/**
 * A build's artifacts: the archive on disk under DATA_DIR, and its name, size, expiry and
 * file key on the build row. Every upload gets a file of its own, named by a random key
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

export interface ArtifactsColumns {
  filename: string;
  size: number;
  expireAt: string | null;
  fileKey: string;
}

/** The archive a build's row names now; undefined when there is none or no such build. */
export async function findArtifactsColumns(db: Db, buildId: number): Promise<ArtifactsColumns | undefined> {
  const row: Record<string, unknown> | undefined = await db('builds')
    .where({ id: buildId })
    .first('artifacts_filename', 'artifacts_size', 'artifacts_expire_at', 'artifacts_file_key');
  if (!row || row.artifacts_file_key == null || row.artifacts_filename == null) return undefined;
  return {
    filename: String(row.artifacts_filename),
    size: Number(row.artifacts_size),
    expireAt: (row.artifacts_expire_at as string | null) ?? null,
    fileKey: String(row.artifacts_file_key),
  };
}

/**
 * The file key of a build that can still take artifacts (not erased, project not being
 * deleted): null when it has none yet. Undefined when the build can no longer take them.
 */
export async function findReplaceableArtifactsKey(db: Db, buildId: number): Promise<{ fileKey: string | null } | undefined> {
  const row: Record<string, unknown> | undefined = await replaceableBuild(db, buildId).first('artifacts_file_key');
  return row && { fileKey: (row.artifacts_file_key as string | null) ?? null };
}

/**
 * Records `artifacts` in place of the archive keyed `previousKey`, only if the row still
 * names that one and can still take artifacts. A concurrent upload, delete, expiry, erase
 * or project deletion in between makes this change nothing. True when this call made the
 * change, i.e. when the caller owns the removal of `previousKey`'s file.
 */
export async function replaceArtifacts(db: Db, buildId: number, previousKey: string | null, artifacts: ArtifactsColumns): Promise<boolean> {
  const query = replaceableBuild(db, buildId);
  if (previousKey === null) query.whereNull('artifacts_file_key');
  else query.where({ artifacts_file_key: previousKey });
  const updated = await query.update({
    artifacts_filename: artifacts.filename,
    artifacts_size: artifacts.size,
    artifacts_expire_at: artifacts.expireAt,
    artifacts_file_key: artifacts.fileKey,
  });
  return updated === 1;
}

function replaceableBuild(db: Db, buildId: number) {
  return db('builds')
    .where({ id: buildId })
    .whereNull('erased_at')
    .whereIn('project_id', db('projects').where({ pending_delete: false }).select('id'));
}

/** The column values of a build without artifacts. */
export const NO_ARTIFACTS = {
  artifacts_filename: null,
  artifacts_size: null,
  artifacts_expire_at: null,
  artifacts_file_key: null,
} as const;

/**
 * Clears the archive columns only if they still name the archive keyed `fileKey`. True
 * when this call cleared them, i.e. when the caller owns the removal of that file.
 */
export async function forgetArtifacts(db: Db, buildId: number, fileKey: string): Promise<boolean> {
  const updated = await db('builds').where({ id: buildId, artifacts_file_key: fileKey }).update(NO_ARTIFACTS);
  return updated === 1;
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
