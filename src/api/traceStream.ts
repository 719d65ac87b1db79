import { PassThrough } from 'node:stream';
import { followTrace, type TraceEvent } from '../domain/traceFollow.js';
import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';
import { requireProjectJob } from './projectAccess.js';

/**
 * Appends made by another process sharing the database show within this; those made by this
 * process wake the stream at once (BuildSignals). One primary-key read per tick.
 */
const POLL_MS = 250;
const MAX_BYTES_PER_EVENT = 256 * 1024;
/** A comment this often keeps proxies and load balancers from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;
/** What EventSource waits before it reconnects (with Last-Event-ID) after a lost connection. */
const RETRY_MS = 2000;

export function traceStreamHandlers({ db, background, logger, buildSignals, shutdown }: AppDeps): OperationHandlers {
  return {
    /** GET .../jobs/:job_id/trace/stream: the trace as Server-Sent Events until the job finishes. */
    async streamJobTrace(c, ctx) {
      const build = await requireProjectJob(db, c);
      annotateRequest(c, { buildId: build.id });
      const lastEventId = c.request.headers['last-event-id'];
      const from = typeof lastEventId === 'string' && lastEventId !== '' ? Number(lastEventId) : 0;

      // A stream may stay open for as long as the build runs.
      ctx.req.socket.setTimeout(0);
      ctx.req.socket.setNoDelay(true);
      const stream = new PassThrough();
      ctx.status = 200;
      ctx.set('Content-Type', 'text/event-stream');
      ctx.set('Cache-Control', 'no-cache, no-transform');
      ctx.set('X-Accel-Buffering', 'no');
      ctx.body = stream;

      const abort = new AbortController();
      ctx.res.once('close', () => abort.abort());
      // A shutdown ends the stream; EventSource reconnects (with Last-Event-ID) to another process.
      const unregister = shutdown.register(() => abort.abort());
      const keepAlive = setInterval(() => stream.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
      stream.write(`retry: ${RETRY_MS}\n\n`);
      const pump = async () => {
        try {
          for await (const event of followTrace(db, build.id, from, {
            pollMs: POLL_MS,
            nextChange: (ms, signal) => buildSignals.nextChange(build.id, ms, signal),
            maxBytesPerEvent: MAX_BYTES_PER_EVENT,
            signal: abort.signal,
          })) {
            stream.write(serverSentEvent(event));
          }
        } catch (err) {
          // The database went away under a stream (shutdown, lost connection): the client reconnects.
          if (!abort.signal.aborted) logger.warn({ err, buildId: build.id }, 'trace stream ended by an error');
        } finally {
          clearInterval(keepAlive);
          unregister();
          stream.end();
        }
      };
      background.track(pump());
    },
  };
}

/** One event in the text/event-stream format; data is JSON, so CR and LF in the trace survive. */
export function serverSentEvent(event: TraceEvent): string {
  switch (event.kind) {
    case 'trace':
      return `id: ${event.end}\nevent: trace\ndata: ${JSON.stringify({ offset: event.offset, text: event.text })}\n\n`;
    case 'reset':
      return 'id: 0\nevent: reset\ndata: {}\n\n';
    case 'end':
      return `id: ${event.end}\nevent: end\ndata: ${JSON.stringify({ status: event.status })}\n\n`;
  }
}
