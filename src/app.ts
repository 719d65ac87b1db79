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
  };
  const app = new Koa();
  app.on('error', (err: NodeJS.ErrnoException) => {
    // A client that hangs up mid-request is not our error; everything else is logged once.
    if (isClientAbort(err)) return;
    deps.log(`error: ${err.stack ?? err.message}`);
  });
  app.use(errorMiddleware(deps.log));
  app.use(
    koaBody({
      json: true,
      urlencoded: false,
      text: false,
      multipart: false,
      jsonLimit: deps.config.maxBodyBytes,
      // Only JSON bodies are parsed here; trace and artifact bodies stream in their own handlers.
      parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
    }),
  );
  app.use(await openapiRouter(deps, handlers));
  return app;
}

const CLIENT_ABORT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'HPE_INVALID_CHUNK_SIZE']);

function isClientAbort(err: NodeJS.ErrnoException): boolean {
  return (err.code !== undefined && CLIENT_ABORT_CODES.has(err.code)) || err.message === 'aborted';
}
