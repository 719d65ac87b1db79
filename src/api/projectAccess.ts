import type { Context as OpenApiContext } from 'openapi-backend';
import { notFound } from '../http/errors.js';
import { pathInteger } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';
import { findBuildInProject, type BuildRecord } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { findPipelineInProject, type PipelineRecord } from '../store/pipelines.js';
import { findLiveProject, type ProjectRecord } from '../store/projects.js';

/** The live project of path parameter `{id}`; unknown or pending deletion is 404. */
export async function requireLiveProject(db: Db, c: OpenApiContext): Promise<ProjectRecord> {
  const project = await findLiveProject(db, pathInteger(c, 'id'));
  if (!project) throw notFound();
  return project;
}

/** The pipeline `{pipeline_id}` of the live project `{id}`; one of another project is 404. */
export async function requireProjectPipeline(db: Db, c: OpenApiContext): Promise<PipelineRecord> {
  const project = await requireLiveProject(db, c);
  const pipeline = await findPipelineInProject(db, project.id, pathInteger(c, 'pipeline_id'));
  if (!pipeline) throw notFound();
  return pipeline;
}

/** The job `{job_id}` of the live project `{id}`; a job of another project is 404. */
export async function requireProjectJob(db: Db, c: OpenApiContext): Promise<BuildRecord> {
  const project = await requireLiveProject(db, c);
  const build = await findBuildInProject(db, project.id, pathInteger(c, 'job_id'));
  if (!build) throw notFound();
  annotateRequest(c, { buildId: build.id, ...(build.runnerId !== null ? { runnerId: build.runnerId } : {}) });
  return build;
}
