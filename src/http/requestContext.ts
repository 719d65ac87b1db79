/** What the request log line and the request metrics say about a request beyond its URL. */
export interface RequestAnnotations {
  operationId?: string;
  runnerId?: number;
  buildId?: number;
}

/**
 * Each request's annotations, by its Koa context and by the openapi-backend context its
 * handler gets. Not an AsyncLocalStorage: on Node 20 one enables async hooks on every promise
 * of the process, which cost a runner's idle poll (issue 7) more than anything else left.
 */
const annotationsOf = new WeakMap<object, RequestAnnotations>();

/** Makes `annotations` the object annotateRequest fills for the request of this Koa context. */
export function beginRequestAnnotations(ctx: object, annotations: RequestAnnotations): void {
  annotationsOf.set(ctx, annotations);
}

/** Lets annotateRequest(`to`, ...) fill the annotations of `from`'s request (the openapi-backend context of a Koa one). */
export function shareRequestAnnotations(from: object, to: object): void {
  const annotations = annotationsOf.get(from);
  if (annotations) annotationsOf.set(to, annotations);
}

/** The annotations of the request `carrier` (its Koa or openapi-backend context, or its IncomingMessage) belongs to. */
export function requestAnnotationsOf(carrier: object): RequestAnnotations | undefined {
  return annotationsOf.get(carrier);
}

/**
 * Adds what a handler learnt (the runner a token named, the build a request is about) to
 * the log line of the request `carrier` (its Koa or openapi-backend context) belongs to.
 * For anything else (a background task) it does nothing.
 */
export function annotateRequest(carrier: object, fields: RequestAnnotations): void {
  const annotations = annotationsOf.get(carrier);
  if (annotations) Object.assign(annotations, fields);
}
