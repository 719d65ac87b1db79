import type { BuildRecord, BuildStatus } from '../store/builds.js';
import type { Db } from '../store/db.js';
import type { ProjectRecord } from '../store/projects.js';
import {
  advanceTraceLength,
  findShortLastChunk,
  insertTraceChunk,
  overwriteTrace,
  readTraceChunks,
  rewriteTraceChunk,
  traceLength,
} from '../store/traces.js';
import { storedTraceSecrets } from '../store/traceSecrets.js';
import type { Clock } from './clock.js';
import type { InstanceTokens } from './instanceTokens.js';
import { maskingWindow, maskTrace, splitMaskedTail, traceSecretSet, type TraceSecrets } from './traceMasking.js';

/** GitLab 8.14+ bumps a build's updated_at on a trace append only when it is older than this. */
const TOUCH_INTERVAL_MS = 15 * 60 * 1000;

export type TraceAppend =
  /** `appended`: the bytes stored (after masking; 0 for a keep-alive). */
  | { accepted: true; length: number; status: BuildStatus; appended: number }
  /** `start` was not the stored length, which is `length`. */
  | { accepted: false; length: number };

/**
 * Appends `chunk` at byte offset `start` (GitLab's PATCH trace.txt). The range check and
 * the append are one transaction, and nothing stored before the short masking tail is read
 * or rewritten (see appendMaskedChunk), so the cost does not grow with the trace. An empty
 * chunk at the right offset is the runner's keep-alive: accepted, nothing stored. The
 * caller answers only after this resolves, i.e. after the commit.
 */
export async function appendTrace(
  db: Db,
  clock: Clock,
  build: BuildRecord,
  project: ProjectRecord,
  start: number,
  chunk: Buffer,
  instance: InstanceTokens,
): Promise<TraceAppend> {
  const secrets = await traceSecrets(db, build, project, instance);
  const now = clock.now();
  const touchBefore = new Date(now.getTime() - TOUCH_INTERVAL_MS).toISOString();
  return db.transaction(async (trx): Promise<TraceAppend> => {
    const advanced = Number.isSafeInteger(start)
      ? await advanceTraceLength(trx, build.id, start, chunk.length, now.toISOString(), touchBefore)
      : undefined;
    if (!advanced) return { accepted: false, length: await traceLength(trx, build.id) };
    if (chunk.length > 0) await appendMaskedChunk(trx, build.id, chunk, secrets);
    return { accepted: true, length: advanced.traceLength, status: advanced.status, appended: chunk.length };
  });
}

/**
 * Stores `chunk` masked, also where a secret is split across two PATCHes: the last chunk
 * row of a trace holds at most the masking window (the longest secret less one byte), and
 * each append masks that tail and the new bytes together, then stores all but the new
 * window as settled bytes and the rest as the new tail. A secret that ends in this chunk
 * began at most a window earlier, so it is masked whole. The tail is shown as it is until
 * the next append or the final PUT, so a reader may see the first bytes of a secret, never
 * all of it. Byte offsets never move: masking keeps lengths.
 */
async function appendMaskedChunk(trx: Db, buildId: number, chunk: Buffer, secrets: TraceSecrets): Promise<void> {
  const window = maskingWindow(secrets);
  const tail = window > 0 ? await findShortLastChunk(trx, buildId, window) : undefined;
  const masked = maskTrace(tail ? Buffer.concat([tail.data, chunk]) : chunk, secrets);
  const parts = splitMaskedTail(masked, window);
  const [first, ...rest] = parts;
  if (tail && first) await rewriteTraceChunk(trx, tail.id, first);
  for (const part of tail ? rest : parts) await insertTraceChunk(trx, buildId, part);
}

/** Replaces the whole trace with `text` (a `trace` in PUT builds/:id), secrets masked. */
export async function replaceTrace(db: Db, build: BuildRecord, project: ProjectRecord, text: string, instance: InstanceTokens): Promise<void> {
  const data = maskTrace(Buffer.from(text, 'utf8'), await traceSecrets(db, build, project, instance));
  await db.transaction((trx) => overwriteTrace(trx, build.id, data));
}

/** The stored trace bytes; empty when nothing was sent. */
export function readTrace(db: Db, buildId: number): Promise<Buffer> {
  return readTraceChunks(db, buildId);
}

/**
 * Every token and secret this build's trace must not show. What GitLab masked (the build's
 * own token, which is also its v4 job token, and the project's runners token), the tokens
 * of the builds it depends on (it receives them), the values of the project's secret
 * variables and of the pipeline's request or trigger variables, and the instance's
 * registration and admin tokens in plain where this process knows them (configured, or
 * generated on this start); then, by digest, the build's runner's token (v1, or a glrt-
 * token), the project's trigger tokens and the instance tokens. Read now, in one small
 * query, so that a variable changed mid-build counts.
 */
async function traceSecrets(db: Db, build: BuildRecord, project: ProjectRecord, instance: InstanceTokens): Promise<TraceSecrets> {
  const stored = await storedTraceSecrets(db, build);
  return traceSecretSet(
    [build.token, project.runnersToken, ...stored.dependencyTokens, ...instance.plainTokens],
    stored.variableValues,
    [...stored.tokenDigests, instance.registrationTokenDigest, instance.adminTokenDigest],
  );
}
