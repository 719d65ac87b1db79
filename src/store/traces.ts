import type { BuildStatus } from './builds.js';
import type { Db } from './db.js';
import { byteLength } from './dialect.js';
import { int } from './rows.js';

/** The build's trace length and status right after an append. */
export interface TraceAdvance {
  traceLength: number;
  status: BuildStatus;
}

/**
 * Grows the build's trace length from `start` by `bytes`, only if it is still `start`.
 * The condition in the UPDATE is the range check: of two appends at one offset, only
 * one can match. `updated_at` becomes `now` only when it is older than `touchBefore`.
 * Answers undefined when the length was not `start` (or the build is gone).
 */
export async function advanceTraceLength(
  db: Db,
  buildId: number,
  start: number,
  bytes: number,
  now: string,
  touchBefore: string,
): Promise<TraceAdvance | undefined> {
  const [row] = await db('builds')
    .where({ id: buildId, trace_length: start })
    .update({
      trace_length: db.raw('trace_length + ?', [bytes]),
      updated_at: db.raw('CASE WHEN updated_at < ? THEN ? ELSE updated_at END', [touchBefore, now]),
    })
    .returning(['trace_length', 'status']);
  return row ? { traceLength: int(row.trace_length), status: row.status as BuildStatus } : undefined;
}

export async function traceLength(db: Db, buildId: number): Promise<number> {
  const row = await db('builds').where({ id: buildId }).first('trace_length');
  return row ? int(row.trace_length) : 0;
}

export async function insertTraceChunk(db: Db, buildId: number, data: Buffer): Promise<void> {
  await db('trace_chunks').insert({ build_id: buildId, data });
}

/**
 * The build's last chunk if it holds at most `maxBytes`: the tail of the trace that the
 * next append may still have to mask (see appendMaskedChunk). One indexed row read.
 */
export async function findShortLastChunk(db: Db, buildId: number, maxBytes: number): Promise<{ id: number; data: Buffer } | undefined> {
  const last: { id: unknown; size: unknown } | undefined = await db('trace_chunks')
    .where({ build_id: buildId })
    .orderBy('id', 'desc')
    .first('id', db.raw(`${byteLength(db, 'data')} as size`));
  if (!last || int(last.size) > maxBytes) return undefined;
  const row: { data: Buffer | Uint8Array } | undefined = await db('trace_chunks').where({ id: int(last.id) }).first('data');
  return row && { id: int(last.id), data: Buffer.isBuffer(row.data) ? row.data : Buffer.from(row.data) };
}

/** Gives chunk `id` new bytes of the same or another length (its place in the order stays). */
export async function rewriteTraceChunk(db: Db, id: number, data: Buffer): Promise<void> {
  await db('trace_chunks').where({ id }).update({ data });
}

/** Replaces every chunk of the build's trace with `data` and sets the length to match. */
export async function overwriteTrace(db: Db, buildId: number, data: Buffer): Promise<void> {
  await db('trace_chunks').where({ build_id: buildId }).delete();
  if (data.length > 0) await insertTraceChunk(db, buildId, data);
  await db('builds').where({ id: buildId }).update({ trace_length: data.length });
}

/** The whole trace: its chunks in the order they were appended. */
export async function readTraceChunks(db: Db, buildId: number): Promise<Buffer> {
  const rows: { data: Buffer | Uint8Array }[] = await db('trace_chunks').where({ build_id: buildId }).orderBy('id').select('data');
  return Buffer.concat(rows.map((row) => (Buffer.isBuffer(row.data) ? row.data : Buffer.from(row.data))));
}

/** Chunks read at most per range read, so a trace of many tiny chunks is read in steps. */
const MAX_CHUNKS_PER_READ = 500;

/**
 * Up to `maxBytes` of the stored trace from byte `start` on. Reads the chunks' sizes first
 * and then only the chunks the range touches, so following a long trace does not re-read
 * what was already sent.
 */
export async function readTraceRange(db: Db, buildId: number, start: number, maxBytes: number): Promise<Buffer> {
  const sizes: { id: unknown; size: unknown }[] = await db('trace_chunks')
    .where({ build_id: buildId })
    .orderBy('id')
    .select('id', db.raw(`${byteLength(db, 'data')} as size`));
  const wanted: number[] = [];
  let position = 0;
  let firstPosition = 0;
  for (const row of sizes) {
    const end = position + int(row.size);
    if (end > start && position < start + maxBytes) {
      if (wanted.length === 0) firstPosition = position;
      wanted.push(int(row.id));
      if (wanted.length >= MAX_CHUNKS_PER_READ) break;
    }
    position = end;
    if (position >= start + maxBytes) break;
  }
  if (wanted.length === 0) return Buffer.alloc(0);
  const rows: { data: Buffer | Uint8Array }[] = await db('trace_chunks').whereIn('id', wanted).orderBy('id').select('data');
  const bytes = Buffer.concat(rows.map((row) => (Buffer.isBuffer(row.data) ? row.data : Buffer.from(row.data))));
  return bytes.subarray(start - firstPosition, start - firstPosition + maxBytes);
}
