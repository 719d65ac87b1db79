import Koa from 'koa';
import { errorMiddleware } from './http/errors.js';
import { openapiRouter, type RequestReadings } from './http/openapiRouter.js';
import type { RequestReading } from './http/requestReading.js';
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
import { operationsHandlers } from './api/operations.js';
import { sessionHandlers } from './api/session.js';
import { badgeHandlers } from './api/badge.js';
import { traceStreamHandlers } from './api/traceStream.js';
import { webViewHandlers } from './api/webView.js';
import { requestObservation } from './http/requestObservation.js';
import { transferCodingGuard } from './http/transferCoding.js';
import { runnerV4Handlers } from './api/runnersV4.js';
import { userRunnerHandlers } from './api/userRunners.js';
import { artifactV4Handlers } from './api/artifactsV4.js';
import { v4JobHandlers } from './api/v4Jobs.js';
import { v4TraceHandlers } from './api/v4Trace.js';

/** Builds the Koa app: error mapping, then openapi.yaml routing, which reads each operation's body its own way. */
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
    // Issue 10: for people and operators.
    ...operationsHandlers(deps),
    ...sessionHandlers(deps),
    ...badgeHandlers(deps),
    ...traceStreamHandlers(deps),
    ...webViewHandlers(deps),
    // Issue 8: the runner API v4 (runners), and the user API around it.
    ...runnerV4Handlers(deps),
    ...userRunnerHandlers(deps),
    ...artifactV4Handlers(deps),
    // Issue 8: runner API v4, jobs.
    ...v4JobHandlers(deps),
    ...v4TraceHandlers(deps),
  };
  const app = new Koa();
  app.on('error', (err: NodeJS.ErrnoException) => {
    // A client that hangs up mid-request is not our error; everything else is logged once.
    if (isClientAbort(err)) return;
    deps.logger.error({ err }, 'error outside a request handler');
  });
  // Outermost: the request's log line and metrics see the status the error middleware chose.
  app.use(requestObservation(deps.logger, deps.metrics));
  app.use(errorMiddleware(deps.log, DRAIN_ALLOWANCE_BYTES));
  app.use(transferCodingGuard());
  app.use(await openapiRouter(deps, handlers, REQUEST_READINGS));
  return app;
}

// ---- How each operation's request is read (src/http/requestReading.ts) ----------------------
// Operations not listed get JSON and urlencoded bodies.

/** GitLab 8.x's runner endpoints: parameters from JSON, a urlencoded or multipart form, or the query string. */
const RUNNER_PARAMETERS: RequestReading = { kind: 'parameters' };
/** PUT builds/:id: its `trace` field is the whole trace, as long as the body may be. */
const BUILD_UPDATE_PARAMETERS: RequestReading = { kind: 'parameters', longFields: ['trace'] };
/** The artifacts upload streams its multipart body in its handler. */
const ARTIFACTS_UPLOAD: RequestReading = { kind: 'upload' };
/** The trace PATCH body is the chunk's bytes, whatever its Content-Type: never parsed. */
const RAW_BODY: RequestReading = { kind: 'raw' };
/** The trigger endpoints also take multipart text forms, since GitLab's documented calls use `curl -F`. */
const TEXT_FORMS: RequestReading = { kind: 'textForms' };

const REQUEST_READINGS: RequestReadings = {
  registerBuild: RUNNER_PARAMETERS,
  registerBuildJson: RUNNER_PARAMETERS,
  updateBuild: BUILD_UPDATE_PARAMETERS,
  updateBuildJson: BUILD_UPDATE_PARAMETERS,
  appendBuildTrace: RAW_BODY,
  uploadBuildArtifacts: ARTIFACTS_UPLOAD,
  uploadBuildArtifactsJson: ARTIFACTS_UPLOAD,
  downloadBuildArtifacts: RUNNER_PARAMETERS,
  downloadBuildArtifactsJson: RUNNER_PARAMETERS,
  deleteBuildArtifacts: RUNNER_PARAMETERS,
  deleteBuildArtifactsJson: RUNNER_PARAMETERS,
  registerRunner: RUNNER_PARAMETERS,
  registerRunnerJson: RUNNER_PARAMETERS,
  deleteRunner: RUNNER_PARAMETERS,
  deleteRunnerJson: RUNNER_PARAMETERS,
  triggerPipeline: TEXT_FORMS,
  triggerBuildsLegacy: TEXT_FORMS,
  triggerBuildsLegacyJson: TEXT_FORMS,
  // Issue 8: the v4 upload's parameters are in its query; its multipart body streams in its handler.
  uploadJobArtifactsV4: RAW_BODY,
  // Issue 8: runner API v4, jobs.
  appendJobTrace: RAW_BODY,
};

/** How far past its operation's body limit a declared length may go and still be drained after a 413. */
const DRAIN_ALLOWANCE_BYTES = 1024 * 1024;

const CLIENT_ABORT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'HPE_INVALID_CHUNK_SIZE']);

function isClientAbort(err: NodeJS.ErrnoException): boolean {
  return (err.code !== undefined && CLIENT_ABORT_CODES.has(err.code)) || err.message === 'aborted';
}
