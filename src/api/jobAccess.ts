/**
 * Runner API v4's job authentication (GitLab's `authenticate_job!`): the job's own token
 * (`token` parameter first, then the `JOB-TOKEN` header), and a job that still takes
 * updates. Every refusal is 403, so that the runner stops the job; one for a job that is
 * no longer running names its status in `Job-Status`.
 */
import type Koa from 'koa';
import type { Context as OpenApiContext } from 'openapi-backend';
import { authenticateBuild, type BuildAccessDenial } from '../domain/buildAuth.js';
import { runsOnRunnerApi } from '../domain/jobAccessV4.js';
import { UPDATABLE } from '../domain/jobUpdate.js';
import { forbidden, HttpError } from '../http/errors.js';
import { pathInteger } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';
import type { BuildRecord, BuildStatus } from '../store/builds.js';
import type { Db } from '../store/db.js';
import type { ProjectRecord } from '../store/projects.js';
import { singleValue, tokenParameter } from './buildAccess.js';

export async function requireUpdatableJob(db: Db, c: OpenApiContext): Promise<{ build: BuildRecord; project: ProjectRecord }> {
  const buildId = pathInteger(c, 'id');
  annotateRequest(c, { buildId });
  const token = tokenParameter(c.request.requestBody) ?? singleValue(c.request.headers['job-token']);
  const access = await authenticateBuild(db, buildId, token, false);
  if (!access.granted) throw denialError(access.denial);
  const { build } = access;
  if (build.runnerId !== null) annotateRequest(c, { runnerId: build.runnerId });
  // A job is driven through its runner's API only: a v1 runner's build token (which its
  // script sees as CI_BUILD_TOKEN) must not set the build's state or trace through v4,
  // which v1 left to the runner's own token (found by test/authorisationMatrix.test.ts).
  if (!(await runsOnRunnerApi(db, build, 'v4'))) throw forbidden();
  if (!UPDATABLE.includes(build.status)) throw new HttpError(403, '403 Forbidden - Job is not running', { 'Job-Status': build.status });
  return access;
}

function denialError(denial: BuildAccessDenial): HttpError {
  switch (denial) {
    case 'unknown-build':
    case 'bad-token':
      return forbidden();
    case 'project-deleted':
      return forbidden('Project has been deleted!');
    case 'build-erased':
      return forbidden('Job has been erased!');
  }
}

/**
 * `X-GitLab-Trace-Update-Interval`, GitLab's values: 3 s while someone follows the log (here:
 * in this process) or the job is canceling (so that the runner's after_script shows soon),
 * 60 s otherwise.
 */
export function traceUpdateInterval(watched: boolean, status: BuildStatus): number {
  return watched || status === 'canceling' ? 3 : 60;
}

export function setJobStatus(ctx: Koa.Context, status: BuildStatus): void {
  ctx.set('Job-Status', status);
}
