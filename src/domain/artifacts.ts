import type { ReadStream } from 'node:fs';
import type { BuildRecord } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { clearArtifacts, installArtifactsFile, openArtifactsFile, recordArtifacts, removeArtifactsFile } from '../store/artifacts.js';
import { parseDuration } from './duration.js';

export const DEFAULT_ARTIFACTS_FILENAME = 'artifacts.zip';
const MAX_FILENAME_LENGTH = 255;

/**
 * The name kept for an uploaded archive, as GitLab's CarrierWave sanitised it: the last
 * path segment (either slash), every character other than letters, digits, `_ . - +`
 * replaced by `_`, and a name of dots only made harmless. So `../../etc/passwd` becomes
 * `passwd`, and no quote, semicolon or line break can reach Content-Disposition. The
 * name is only ever shown; the file's path on disk comes from the build id.
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

/** Puts a finished upload in place of the build's archive (a re-upload replaces it). */
export async function storeArtifacts(db: Db, dataDir: string, buildId: number, upload: UploadedArchive, expireAt: string | null): Promise<void> {
  await installArtifactsFile(dataDir, buildId, upload.path);
  await recordArtifacts(db, buildId, {
    filename: sanitizeArtifactsFilename(upload.originalFilename),
    size: upload.size,
    expireAt,
  });
}

/** Idempotent: the row forgets the archive first, so no one is offered a file being removed. */
export async function deleteArtifacts(db: Db, dataDir: string, buildId: number): Promise<void> {
  await clearArtifacts(db, buildId);
  await removeArtifactsFile(dataDir, buildId);
}

export interface ArtifactsDownload {
  stream: ReadStream;
  size: number;
  filename: string;
}

/**
 * The stored archive for download. Expiry is not checked: GitLab served an expired file
 * until its cleanup worker removed it; only the build payloads and job JSON hide it.
 */
export async function openArtifacts(dataDir: string, build: BuildRecord): Promise<ArtifactsDownload | undefined> {
  if (!build.artifactsFilename) return undefined;
  const file = await openArtifactsFile(dataDir, build.id);
  return file && { ...file, filename: build.artifactsFilename };
}
