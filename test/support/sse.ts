import { EventSourceParserStream, type EventSourceMessage } from 'eventsource-parser/stream';

/** An open Server-Sent Events stream: its reply, and its events one at a time. */
export interface EventStream {
  status: number;
  headers: Headers;
  /** The next event; undefined once the server has closed the stream. Rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<EventSourceMessage | undefined>;
  /** Every event until the server closes the stream. */
  rest(timeoutMs?: number): Promise<EventSourceMessage[]>;
  close(): Promise<void>;
}

/** GETs `url` as EventSource would (Accept: text/event-stream), with `headers` (Last-Event-ID, tokens). */
export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
  if (!response.ok || !response.body) {
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      next: () => Promise.reject(new Error(`no event stream: ${response.status} ${text}`)),
      rest: () => Promise.reject(new Error(`no event stream: ${response.status} ${text}`)),
      close: async () => {},
    };
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  const next = async (timeoutMs = 10_000): Promise<EventSourceMessage | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms from ${url}`)), timeoutMs);
    });
    try {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      return done ? undefined : value;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    status: response.status,
    headers: response.headers,
    next,
    async rest(timeoutMs = 10_000) {
      const events: EventSourceMessage[] = [];
      for (let event = await next(timeoutMs); event; event = await next(timeoutMs)) events.push(event);
      return events;
    },
    async close() {
      abort.abort();
      await reader.cancel().catch(() => {});
    },
  };
}

/** The `{offset, text}` of a `trace` event. */
export function traceData(event: EventSourceMessage | undefined): { offset: number; text: string } {
  if (!event || event.event !== 'trace') throw new Error(`expected a trace event, got ${JSON.stringify(event)}`);
  return JSON.parse(event.data) as { offset: number; text: string };
}
