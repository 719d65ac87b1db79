import { findBuild, type BuildRecord, type BuildStatus } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { readTraceRange } from '../store/traces.js';

/** What a follower of a trace learns, in order. */
export type TraceEvent =
  /** `text` starts at byte `offset`; the trace is now followed up to byte `end`. */
  | { kind: 'trace'; offset: number; end: number; text: string }
  /** The stored trace became shorter than what was sent (erased): start over from 0. */
  | { kind: 'reset' }
  /** The job has finished (or is gone: status null); nothing more will come. */
  | { kind: 'end'; end: number; status: BuildStatus | null };

export interface FollowOptions {
  /** How often the build is looked at while nothing changes. */
  pollMs: number;
  /** Waits at most `ms` for the build to change (an append or an update in this process). */
  nextChange: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The largest piece of trace one event carries. */
  maxBytesPerEvent: number;
  signal: AbortSignal;
}

const FINISHED: ReadonlySet<BuildStatus> = new Set(['success', 'failed', 'canceled']);

/** Finished, or skipped for good (a manual job waiting to be played may still run). */
export function hasFinished(build: Pick<BuildRecord, 'status' | 'when'>): boolean {
  return FINISHED.has(build.status) || (build.status === 'skipped' && build.when !== 'manual');
}

/**
 * Follows a build's stored trace from byte `from` until the build has finished. It looks
 * at the build's row when this process changes the build, and at least every `pollMs` (one
 * primary-key read), so appends made by any server process sharing the database show up;
 * it reads only the new bytes. Text never ends in
 * the middle of a UTF-8 sequence while more may come.
 */
export async function* followTrace(db: Db, buildId: number, from: number, options: FollowOptions): AsyncGenerator<TraceEvent> {
  let offset = from;
  while (!options.signal.aborted) {
    const build = await findBuild(db, buildId);
    if (!build) {
      yield { kind: 'end', end: offset, status: null };
      return;
    }
    const finished = hasFinished(build);
    if (build.traceLength < offset) {
      yield { kind: 'reset' };
      offset = 0;
    }
    while (build.traceLength > offset && !options.signal.aborted) {
      const bytes = await readTraceRange(db, buildId, offset, Math.min(options.maxBytesPerEvent, build.traceLength - offset));
      if (bytes.length === 0) break;
      let cut = completeUtf8Prefix(bytes);
      // The bytes so far end inside a character: wait for the rest, unless nothing more comes.
      if (cut === 0) {
        if (!finished) break;
        cut = bytes.length;
      }
      yield { kind: 'trace', offset, end: offset + cut, text: bytes.subarray(0, cut).toString('utf8') };
      offset += cut;
      if (cut < bytes.length && !finished) break;
    }
    if (finished) {
      yield { kind: 'end', end: offset, status: build.status };
      return;
    }
    await options.nextChange(options.pollMs, options.signal);
  }
}

/** How many leading bytes of `bytes` form whole UTF-8 sequences (an unfinished one at the end is left out). */
export function completeUtf8Prefix(bytes: Buffer): number {
  const length = bytes.length;
  // A sequence is at most 4 bytes: look back at most 3 bytes for its lead byte.
  for (let back = 1; back <= Math.min(4, length); back++) {
    const byte = bytes[length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? length - back : length;
  }
  return length; // only continuation bytes: not UTF-8 anyway, send as it is
}
