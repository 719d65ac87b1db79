import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import { pinoHttp } from 'pino-http';
import { redactUrl, type Logger } from '../observability/logger.js';
import type { CoordinatorMetrics } from '../observability/metrics.js';
import { beginRequestAnnotations, requestAnnotationsOf, shareRequestAnnotations, type RequestAnnotations } from './requestContext.js';

/** A request id a client or proxy may hand us (GitLab's X-Request-Id); anything else is replaced. */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request's id, sent back as X-Request-Id whether or not the request is logged. */
function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && ACCEPTABLE_REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * One JSON log line per request (pino-http), written when the answer is complete (or the
 * client went away): the request id, operationId, status, duration and, where a handler
 * learnt them, the runner and build ids; and the request metrics by operationId and status.
 * Runs outermost, so it sees the status the error middleware settled on.
 */
export function requestObservation(logger: Logger, metrics: CoordinatorMetrics): Koa.Middleware {
  const httpLogger = pinoHttp<IncomingMessage, ServerResponse>({
    logger,
    quietReqLogger: true,
    customAttributeKeys: { responseTime: 'durationMs' },
    genReqId: requestId,
    serializers: {
      req: (req: { method: string; url: string; headers: Record<string, unknown>; remoteAddress?: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
        headers: req.headers,
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customProps: (req) => ({ ...requestAnnotationsOf(req) }),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    customSuccessMessage: (req, res) => `${req.method} ${redactUrl(req.url ?? '').split('?')[0]} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${redactUrl(req.url ?? '').split('?')[0]} ${res.statusCode}`,
  });

  return async (ctx, next) => {
    const annotations: RequestAnnotations = {};
    // Filled through the Koa context by handlers; read through the IncomingMessage by the log line.
    beginRequestAnnotations(ctx, annotations);
    shareRequestAnnotations(ctx, ctx.req);
    const started = process.hrtime.bigint();
    // pino-http logs at info, or at error for a failure: with neither enabled (LOG_LEVEL=fatal
    // or silent) it would only build a child logger per request for nothing (issue 7's idle poll).
    if (logger.isLevelEnabled('error')) httpLogger(ctx.req, ctx.res);
    else requestId(ctx.req, ctx.res);
    ctx.res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.requestFinished(annotations.operationId ?? 'unknown', ctx.res.statusCode, seconds);
    });
    await next();
  };
}
