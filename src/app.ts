import Koa from 'koa';
import { HttpMethodEnum, koaBody } from 'koa-body';
import { errorMiddleware } from './http/errors.js';
import { openapiRouter } from './http/openapiRouter.js';
import type { AppDeps, OperationHandlers } from './http/handlers.js';
import { projectHandlers } from './api/projects.js';
import { pipelineHandlers } from './api/pipelines.js';
import { jobHandlers } from './api/jobs.js';
import { runnerHandlers } from './api/runners.js';
import { buildHandlers } from './api/builds.js';
import { traceHandlers } from './api/trace.js';
import { artifactHandlers } from './api/artifacts.js';
import { jobActionHandlers } from './api/jobActions.js';
import { runnerAdminHandlers } from './api/runnerAdmin.js';
import { variableHandlers } from './api/variables.js';
import { triggerHandlers } from './api/triggers.js';
import { lintHandlers } from './api/lint.js';

/** Builds the Koa app: error mapping, JSON body parsing, then openapi.yaml routing. */
export async function createApp(deps: AppDeps): Promise<Koa> {
  const handlers: OperationHandlers = {
    ...projectHandlers(deps),
    ...pipelineHandlers(deps),
    ...jobHandlers(deps),
    ...runnerHandlers(deps),
    ...buildHandlers(deps),
    ...traceHandlers(deps),
    ...artifactHandlers(deps),
    ...jobActionHandlers(deps),
    ...runnerAdminHandlers(deps),
    ...variableHandlers(deps),
    ...triggerHandlers(deps),
    ...lintHandlers(deps),
  };
  const app = new Koa();
  app.on('error', (err: NodeJS.ErrnoException) => {
    // A client that hangs up mid-request is not our error; everything else is logged once.
    if (isClientAbort(err)) return;
    deps.log(`error: ${err.stack ?? err.message}`);
  });
  app.use(errorMiddleware(deps.log, deps.config.maxBodyBytes + DRAIN_ALLOWANCE_BYTES));
  app.use(
    koaBody({
      json: true,
      // Forms only for the trigger endpoints, whose callers (curl -F, webhooks) send them;
      // every other endpoint validates the parsed form against its JSON schema and refuses it.
      urlencoded: true,
      formLimit: deps.config.maxBodyBytes,
      text: false,
      multipart: false,
      jsonLimit: deps.config.maxBodyBytes,
      // Only JSON and form bodies are parsed here; trace and artifact bodies stream in their own
      // handlers, and the trigger endpoints' multipart forms are read by openapiRouter.
      parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
    }),
  );
  app.use(await openapiRouter(deps, handlers, MULTIPART_FORM_OPERATIONS));
  return app;
}

/**
 * The trigger endpoints also take multipart text forms, since GitLab's documented calls use
 * `curl -F`. koa-body cannot parse those for them alone: its multipart parsing would also
 * swallow the artifacts upload, which streams its multipart body in its handler.
 */
const MULTIPART_FORM_OPERATIONS: ReadonlySet<string> = new Set(['triggerPipeline', 'triggerBuildsLegacy', 'triggerBuildsLegacyJson']);

/** How far past the body limit a declared length may go and still be drained after a 413. */
const DRAIN_ALLOWANCE_BYTES = 1024 * 1024;

const CLIENT_ABORT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'HPE_INVALID_CHUNK_SIZE']);

function isClientAbort(err: NodeJS.ErrnoException): boolean {
  return (err.code !== undefined && CLIENT_ABORT_CODES.has(err.code)) || err.message === 'aborted';
}
