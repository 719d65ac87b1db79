import type Koa from 'koa';
import type { Context as OpenApiContext } from 'openapi-backend';
import { appendTrace } from '../domain/traces.js';
import { HttpError } from '../http/errors.js';
import type { AppDeps } from '../http/handlers.js';
import { readRawBody } from '../http/rawBody.js';
import type { BuildRecord, BuildStatus } from '../store/builds.js';
import type { ProjectRecord } from '../store/projects.js';

/**
 * The part of a trace PATCH both runner APIs share (v1 trace.txt, v4 trace): Content-Range
 * required, the body's bytes appended at its start, which must be the stored length (416 with
 * `Range` otherwise). Only the start counts: GitLab ignored the end, whose meaning differs
 * between runner generations (v1's exclusive `N-N` keep-alive, v4's inclusive end). Answers
 * the `Range` to send and the build's status after the append.
 */
export async function appendTraceChunk(
  { db, config, clock, metrics, buildSignals, tokens }: AppDeps,
  c: OpenApiContext,
  ctx: Koa.Context,
  build: BuildRecord,
  project: ProjectRecord,
): Promise<{ range: string; status: BuildStatus }> {
  const contentRange = c.request.headers['content-range'];
  if (typeof contentRange !== 'string') throw new HttpError(400, '400 Missing header Content-Range');
  // The spec's pattern guarantees `<digits>-<digits>`.
  const start = Number(contentRange.slice(0, contentRange.indexOf('-')));
  const chunk = await readRawBody(ctx, config.maxBodyBytes);
  const result = await appendTrace(db, clock, build, project, start, chunk, tokens);
  const range = `0-${result.length}`;
  if (!result.accepted) throw new HttpError(416, '416 Range Not Satisfiable', { Range: range });
  metrics.traceAppended(result.appended);
  if (result.appended > 0) buildSignals.changed(build.id);
  return { range, status: result.status };
}
