import fs from 'node:fs/promises';
import type { ReadStream } from 'node:fs';
import path from 'node:path';
import type { Db } from './db.js';

/**
 * A build's artifacts: the archive on disk under DATA_DIR, and its name, size and expiry
 * on the build row. The file's path comes from the build id alone, so no request text
 * ever reaches the filesystem.
 */
export function artifactsFilePath(dataDir: string, buildId: number): string {
  return path.join(dataDir, 'artifacts', String(buildId), 'artifacts.zip');
}

/** Where uploads are written while they stream; on the same filesystem as the archives, so `rename` is atomic. */
export function uploadTempDir(dataDir: string): string {
  return path.join(dataDir, 'tmp');
}

/**
 * Moves a complete, already fsynced upload into place. `rename` replaces the previous
 * archive in one step: a download that already opened the old file keeps reading it,
 * and no one ever sees half a file.
 */
export async function installArtifactsFile(dataDir: string, buildId: number, uploadedFile: string): Promise<void> {
  const target = artifactsFilePath(dataDir, buildId);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.rename(uploadedFile, target);
  await syncDirectory(path.dirname(target));
}

export async function removeArtifactsFile(dataDir: string, buildId: number): Promise<void> {
  await fs.rm(artifactsFilePath(dataDir, buildId), { force: true });
}

/** The archive, opened before its size is read, so size and bytes belong to the same file. */
export async function openArtifactsFile(dataDir: string, buildId: number): Promise<{ stream: ReadStream; size: number } | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(artifactsFilePath(dataDir, buildId), 'r');
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
}

export async function recordArtifacts(db: Db, buildId: number, artifacts: ArtifactsColumns): Promise<void> {
  await db('builds').where({ id: buildId }).update({
    artifacts_filename: artifacts.filename,
    artifacts_size: artifacts.size,
    artifacts_expire_at: artifacts.expireAt,
  });
}

export async function clearArtifacts(db: Db, buildId: number): Promise<void> {
  await db('builds').where({ id: buildId }).update({ artifacts_filename: null, artifacts_size: null, artifacts_expire_at: null });
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
