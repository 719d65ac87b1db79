import { setTimeout as sleep } from 'node:timers/promises';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { ApiError, type CoordinatorClient } from './client.js';

export interface FollowResult {
  /** The job's status when the stream ended (null: the job is gone). */
  status: string | null;
}

/** How long to wait before reconnecting after a lost connection (the server may say otherwise with `retry:`). */
const DEFAULT_RETRY_MS = 2000;
/** Lost connections in a row before giving up. */
const MAX_RECONNECTS = 30;

/**
 * Follows a job's trace over the SSE stream, writing each piece as it arrives, until the job
 * finishes. A lost connection is resumed from the last event's id (Last-Event-ID), as
 * EventSource does, so nothing is written twice or skipped.
 */
export async function followTrace(
  client: CoordinatorClient,
  projectId: number,
  jobId: number,
  write: (text: string) => void,
  signal?: AbortSignal,
): Promise<FollowResult> {
  let lastEventId: string | undefined;
  let retryMs = DEFAULT_RETRY_MS;
  let failures = 0;
  for (;;) {
    try {
      const reply = await client.request('GET', `/api/v4/projects/${projectId}/jobs/${jobId}/trace/stream`, undefined, {
        Accept: 'text/event-stream',
        ...(lastEventId === undefined ? {} : { 'Last-Event-ID': lastEventId }),
      });
      if (!reply.ok || !reply.body) {
        const text = await reply.text();
        const message = reply.headers.get('content-type') === 'application/json' ? (JSON.parse(text) as { message: string }).message : text;
        throw new ApiError(reply.status, message);
      }
      const events = reply.body
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream({ onRetry: (ms) => (retryMs = ms) }));
      for await (const event of events) {
        failures = 0;
        if (event.id !== undefined) lastEventId = event.id;
        if (event.event === 'trace') write((JSON.parse(event.data) as { text: string }).text);
        else if (event.event === 'reset') write('\n[the trace was erased; starting over]\n');
        else if (event.event === 'end') return { status: (JSON.parse(event.data) as { status: string | null }).status };
      }
      // Closed without an end event: the server went away mid-stream.
    } catch (err) {
      if (err instanceof ApiError || signal?.aborted) throw err;
      if (++failures > MAX_RECONNECTS) throw err;
    }
    await sleep(retryMs, undefined, signal ? { signal } : {});
  }
}
