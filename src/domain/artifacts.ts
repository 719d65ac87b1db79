import type { ReadStream } from 'node:fs';
import type { BuildRecord } from '../store/builds.js';
import type { Db } from '../store/db.js';
import {
  findArtifactsColumns,
  findReplaceableArtifactsKey,
  forgetArtifacts,
  installArtifactsFile,
  openArtifactsFile,
  removeArtifactsFile,
  replaceArtifacts,
  type ArtifactsColumns,
} from '../store/artifacts.js';
import { parseDuration } from './duration.js';
import { newToken } from './tokens.js';

export const DEFAULT_ARTIFACTS_FILENAME = 'artifacts.zip';
const MAX_FILENAME_LENGTH = 255;

/**
 * The name kept for an uploaded archive, as GitLab's CarrierWave sanitised it: the last
 * path segment (either slash), every character other than letters, digits, `_ . - +`
 * replaced by `_`, and a name of dots only made harmless. So `../../etc/passwd` becomes
 * `passwd`, and no quote, semicolon or line break can reach Content-Disposition. The
 * name is only ever shown; the file's path on disk comes from the build id and a server-made key.
 */
export function sanitizeArtifactsFilename(original: string | undefined): string {
  const base = (original ?? '').replace(/\\/g, '/').split('/').pop() ?? '';
  let name = base.replace(/[^\p{L}\p{N}_.+-]/gu, '_');
  if (/^\.+$/.test(name)) name = `_${name}`;
  name = [...name].slice(0, MAX_FILENAME_LENGTH).join('');
  return name === '' ? DEFAULT_ARTIFACTS_FILENAME : name;
}

export type ArtifactsExpiry = { valid: true; expireAt: string | null } | { valid: false };

/**
 * `expire_in` in GitLab's duration forms (`7 days`, `1 week`, `30 mins`, `2h`). Absent or
 * blank means the archive never expires (GitLab 8.x had no default); anything that is
 * not a duration is refused rather than guessed.
 */
export function artifactsExpiry(expireIn: string | undefined, now: Date): ArtifactsExpiry {
  if (expireIn === undefined || expireIn.trim() === '') return { valid: true, expireAt: null };
  const seconds = parseDuration(expireIn);
  if (seconds === null) return { valid: false };
  return { valid: true, expireAt: new Date(now.getTime() + seconds * 1000).toISOString() };
}

export interface UploadedArchive {
  /** A complete, fsynced temporary file; it is moved, not copied. */
  path: string;
  size: number;
  originalFilename: string | undefined;
}

/**
 * Puts a finished upload in place of the build's archive (a re-upload replaces it). The
 * upload gets a file of its own first; the row then switches to it in one conditional
 * UPDATE; only then does the previous archive's file go. A concurrent expiry or delete
 * can therefore only remove the file of the archive it saw in the row, never this one.
 * False when the build can no longer take artifacts (erased, or its project or the build
 * deleted while the file streamed in): nothing is kept then.
 */
export async function storeArtifacts(db: Db, dataDir: string, buildId: number, upload: UploadedArchive, expireAt: string | null): Promise<boolean> {
  return recordPlacedArtifacts(db, dataDir, buildId, await placeArtifactsFile(dataDir, buildId, upload, expireAt));
}

/** An upload moved to its own file, which no row names yet. */
export type PlacedArtifacts = ArtifactsColumns;

/** storeArtifacts' first step: the upload becomes the build's file under a new key. */
export async function placeArtifactsFile(dataDir: string, buildId: number, upload: UploadedArchive, expireAt: string | null): Promise<PlacedArtifacts> {
  const placed: PlacedArtifacts = {
    filename: sanitizeArtifactsFilename(upload.originalFilename),
    size: upload.size,
    expireAt,
    fileKey: newToken(),
  };
  await installArtifactsFile(dataDir, buildId, placed.fileKey, upload.path);
  return placed;
}

/** storeArtifacts' second step: the row names the placed file, and the file it named before goes. */
export async function recordPlacedArtifacts(db: Db, dataDir: string, buildId: number, placed: PlacedArtifacts): Promise<boolean> {
  let replaced: { fileKey: string | null } | undefined;
  try {
    replaced = await switchToPlacedFile(db, buildId, placed);
  } finally {
    // Not recorded (refused, or failed): no row names the file, so no one else would remove it.
    if (!replaced) await removeArtifactsFile(dataDir, buildId, placed.fileKey);
  }
  if (!replaced) return false;
  if (replaced.fileKey !== null) await removeArtifactsFile(dataDir, buildId, replaced.fileKey);
  return true;
}

/**
 * Attempts at switching the row: each lost one means another upload, delete or expiry
 * changed the row in between (so the system as a whole progressed).
 */
const SWITCH_ATTEMPTS = 10;

/**
 * Switches the row to the placed file, conditional on the key read just before. Answers
 * the key it replaced, or undefined when the build can no longer take artifacts.
 */
async function switchToPlacedFile(db: Db, buildId: number, placed: PlacedArtifacts): Promise<{ fileKey: string | null } | undefined> {
  for (let attempt = 0; attempt < SWITCH_ATTEMPTS; attempt++) {
    const current = await findReplaceableArtifactsKey(db, buildId);
    if (!current) return undefined;
    if (await replaceArtifacts(db, buildId, current.fileKey, placed)) return current;
  }
  throw new Error(`build ${buildId}: the artifacts kept changing while an upload was recorded`);
}

/**
 * Removes the archive keyed `fileKey` if the row still names it: the row forgets it first,
 * so no one is offered a file being removed, and only the caller whose UPDATE cleared it
 * removes the file. True when this call removed it. Losing means a re-upload or another
 * removal got there first; the archive this caller saw is gone either way.
 */
export async function removeArtifacts(db: Db, dataDir: string, buildId: number, fileKey: string): Promise<boolean> {
  if (!(await forgetArtifacts(db, buildId, fileKey))) return false;
  await removeArtifactsFile(dataDir, buildId, fileKey);
  return true;
}

/** DELETE: idempotent; removes the archive the build's row named when it was read. */
export async function deleteArtifacts(db: Db, dataDir: string, build: BuildRecord): Promise<void> {
  if (build.artifactsFileKey !== null) await removeArtifacts(db, dataDir, build.id, build.artifactsFileKey);
}

export interface ArtifactsDownload {
  stream: ReadStream;
  size: number;
  filename: string;
}

/**
 * The stored archive for download. Expiry is not checked: GitLab served an expired file
 * until its cleanup worker removed it; only the build payloads and job JSON hide it.
 * If the file named by `build` was removed before it could be opened, a re-upload may
 * have replaced it: the row is read again and its current archive opened, so a download
 * racing a re-upload gets the old or the new archive, never a 404 while one exists.
 */
export async function openArtifacts(db: Db, dataDir: string, build: BuildRecord): Promise<ArtifactsDownload | undefined> {
  if (!build.artifactsFilename || !build.artifactsFileKey) return undefined;
  const seen = await openArtifactsFile(dataDir, build.id, build.artifactsFileKey);
  if (seen) return { ...seen, filename: build.artifactsFilename };
  const current = await findArtifactsColumns(db, build.id);
  if (!current || current.fileKey === build.artifactsFileKey) return undefined;
  const replacement = await openArtifactsFile(dataDir, build.id, current.fileKey);
  return replacement && { ...replacement, filename: current.filename };
}
