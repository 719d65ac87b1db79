import type { ReadStream } from 'node:fs';
import type { Db } from '../store/db.js';
import {
  ARCHIVE,
  findJobArtifact,
  findReplaceableArtifactsKey,
  forgetArtifacts,
  installArtifactsFile,
  openArtifactsFile,
  removeArtifactsFile,
  replaceArtifacts,
  type ArtifactsColumns,
  type JobArtifactRecord,
} from '../store/artifacts.js';
import type { Clock } from './clock.js';
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
export function sanitizeArtifactsFilename(original: string | undefined, fallback: string = DEFAULT_ARTIFACTS_FILENAME): string {
  const base = (original ?? '').replace(/\\/g, '/').split('/').pop() ?? '';
  let name = base.replace(/[^\p{L}\p{N}_.+-]/gu, '_');
  if (/^\.+$/.test(name)) name = `_${name}`;
  name = [...name].slice(0, MAX_FILENAME_LENGTH).join('');
  return name === '' ? fallback : name;
}

/** The name kept for an upload that came without one: the runner's own names for each format. */
function defaultFilenameOf(kind: ArtifactKind): string {
  if (kind.fileFormat === 'gzip') return `${kind.fileType}.gz`;
  if (kind.fileFormat === 'zip') return kind.fileType === ARCHIVE ? DEFAULT_ARTIFACTS_FILENAME : `${kind.fileType}.zip`;
  return kind.fileType;
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

/** Which artifact of a build an upload is: the v1 archive is `{type: archive, format: zip}`. */
export interface ArtifactKind {
  fileType: string;
  fileFormat: string;
}

export const ARCHIVE_KIND: ArtifactKind = { fileType: ARCHIVE, fileFormat: 'zip' };

/**
 * Puts a finished upload in place of the build's artifact of that kind (a re-upload replaces
 * it). The upload gets a file of its own first; the row then switches to it in one
 * conditional change; only then does the previous artifact's file go. A concurrent expiry or
 * delete can therefore only remove the file of the artifact it saw in the row, never this one.
 * False when the build can no longer take artifacts (erased, or its project or the build
 * deleted while the file streamed in): nothing is kept then.
 */
export async function storeArtifacts(
  db: Db,
  clock: Clock,
  dataDir: string,
  buildId: number,
  upload: UploadedArchive,
  expireAt: string | null,
  kind: ArtifactKind = ARCHIVE_KIND,
): Promise<boolean> {
  return recordPlacedArtifacts(db, clock, dataDir, buildId, await placeArtifactsFile(dataDir, buildId, upload, expireAt, kind), kind);
}

/** An upload moved to its own file, which no row names yet. */
export type PlacedArtifacts = ArtifactsColumns;

/** storeArtifacts' first step: the upload becomes the build's file under a new key. */
export async function placeArtifactsFile(
  dataDir: string,
  buildId: number,
  upload: UploadedArchive,
  expireAt: string | null,
  kind: ArtifactKind = ARCHIVE_KIND,
): Promise<PlacedArtifacts> {
  const placed: PlacedArtifacts = {
    filename: sanitizeArtifactsFilename(upload.originalFilename, defaultFilenameOf(kind)),
    size: upload.size,
    expireAt,
    fileKey: newToken(),
  };
  await installArtifactsFile(dataDir, buildId, placed.fileKey, upload.path);
  return placed;
}

/** storeArtifacts' second step: the row names the placed file, and the file it named before goes. */
export async function recordPlacedArtifacts(
  db: Db,
  clock: Clock,
  dataDir: string,
  buildId: number,
  placed: PlacedArtifacts,
  kind: ArtifactKind = ARCHIVE_KIND,
): Promise<boolean> {
  let replaced: { fileKey: string | null } | undefined;
  try {
    replaced = await switchToPlacedFile(db, clock, buildId, placed, kind);
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
async function switchToPlacedFile(db: Db, clock: Clock, buildId: number, placed: PlacedArtifacts, kind: ArtifactKind): Promise<{ fileKey: string | null } | undefined> {
  for (let attempt = 0; attempt < SWITCH_ATTEMPTS; attempt++) {
    const current = await findReplaceableArtifactsKey(db, buildId, kind.fileType);
    if (!current) return undefined;
    if (await replaceArtifacts(db, buildId, kind.fileType, kind.fileFormat, current.fileKey, placed, clock.now().toISOString())) return current;
  }
  throw new Error(`build ${buildId}: the artifacts kept changing while an upload was recorded`);
}

/**
 * Removes the artifact keyed `fileKey` if its row still names it: the row goes first, so
 * no one is offered a file being removed, and only the caller whose DELETE removed the row
 * removes the file. True when this call removed it. Losing means a re-upload or another
 * removal got there first; the artifact this caller saw is gone either way.
 */
export async function removeArtifacts(db: Db, dataDir: string, buildId: number, fileKey: string): Promise<boolean> {
  if (!(await forgetArtifacts(db, buildId, fileKey))) return false;
  await removeArtifactsFile(dataDir, buildId, fileKey);
  return true;
}

/**
 * DELETE builds/:id/artifacts: idempotent; removes the artifacts `seen` (every type, as
 * GitLab's erase_artifacts!), each only if its row still names it.
 */
export async function deleteArtifacts(db: Db, dataDir: string, seen: readonly JobArtifactRecord[]): Promise<void> {
  for (const artifact of seen) await removeArtifacts(db, dataDir, artifact.buildId, artifact.fileKey);
}

export interface ArtifactsDownload {
  stream: ReadStream;
  size: number;
  filename: string;
}

/**
 * The build's stored artifact of `fileType` for download. Expiry is not checked: GitLab
 * served an expired file until its cleanup worker removed it; only the build payloads and
 * job JSON hide it. If the file the row named was removed before it could be opened, a
 * re-upload may have replaced it: the row is read again and its current file opened, so a
 * download racing a re-upload gets the old or the new artifact, never a 404 while one exists.
 */
export async function openArtifacts(db: Db, dataDir: string, buildId: number, fileType: string = ARCHIVE): Promise<ArtifactsDownload | undefined> {
  const seen = await findJobArtifact(db, buildId, fileType);
  if (!seen) return undefined;
  const file = await openArtifactsFile(dataDir, buildId, seen.fileKey);
  if (file) return { ...file, filename: seen.filename };
  const current = await findJobArtifact(db, buildId, fileType);
  if (!current || current.fileKey === seen.fileKey) return undefined;
  const replacement = await openArtifactsFile(dataDir, buildId, current.fileKey);
  return replacement && { ...replacement, filename: current.filename };
}
