import { AsyncLocalStorage } from 'node:async_hooks';

/** What the request log line and the request metrics say about a request beyond its URL. */
export interface RequestAnnotations {
  operationId?: string;
  runnerId?: number;
  buildId?: number;
}

const current = new AsyncLocalStorage<RequestAnnotations>();

/** Runs the rest of a request with `annotations` as the object annotateRequest fills. */
export function withRequestAnnotations<T>(annotations: RequestAnnotations, run: () => T): T {
  return current.run(annotations, run);
}

/**
 * Adds what a handler learnt (the runner a token named, the build a request is about) to
 * the request's log line. Outside a request (a background task) it does nothing.
 */
export function annotateRequest(fields: RequestAnnotations): void {
  const annotations = current.getStore();
  if (annotations) Object.assign(annotations, fields);
}
