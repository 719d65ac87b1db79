import type { Clock } from './clock.js';
import type { Db } from '../store/db.js';
import { insertBuilds, type NewBuildRecord } from '../store/builds.js';
import { findPipeline, insertPipeline, type PipelineRecord, type PipelineVariable } from '../store/pipelines.js';
import type { ProjectRecord } from '../store/projects.js';
import { jobsForRef, parseCiConfig, type CiJob } from './ciConfig.js';
import { processPipeline } from './pipelineProcessing.js';
import { readCiConfigFromRepository, RepositoryReadError } from './repositoryConfig.js';
import { newToken } from './tokens.js';

export const ZERO_SHA = '0000000000000000000000000000000000000000';

export interface PipelineRequest {
  ref: string;
  sha: string;
  beforeSha?: string;
  tag?: boolean;
  ciConfig?: string;
  variables?: PipelineVariable[];
  /** The trigger that asked for this pipeline; its variables are then trigger variables. */
  triggerId?: number;
}

/** Why a pipeline could not be created: every problem of the config, by job and key. */
export class InvalidPipelineConfig extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('; '));
  }
}

/**
 * Creates a pipeline and its builds from `.gitlab-ci.yml` (the request's, else the
 * project's, else the file in the repository at the pipeline's sha), all in one
 * transaction so that nothing half-made is ever visible, then enqueues its first stage.
 */
export async function createPipeline(db: Db, clock: Clock, project: ProjectRecord, request: PipelineRequest): Promise<PipelineRecord> {
  const configText = request.ciConfig ?? project.ciConfig ?? (await configFromRepository(project, request.sha));
  const config = parseCiConfig(configText);
  if (!config.valid) throw new InvalidPipelineConfig(config.errors);
  const tag = request.tag ?? false;
  const jobs = jobsForRef(config.jobs, { ref: request.ref, tag });
  if (jobs.length === 0) throw new InvalidPipelineConfig([`No jobs for ${tag ? 'tag' : 'branch'} ${request.ref}: only/except exclude them all`]);

  const now = clock.now().toISOString();
  const pipeline = await db.transaction(async (trx) => {
    const created = await insertPipeline(trx, {
      projectId: project.id,
      ref: request.ref,
      sha: request.sha.toLowerCase(),
      beforeSha: (request.beforeSha ?? ZERO_SHA).toLowerCase(),
      tag,
      variables: request.variables ?? [],
      triggered: request.triggerId !== undefined,
      triggerId: request.triggerId ?? null,
      createdAt: now,
    });
    await insertBuilds(trx, jobs.map((job) => buildFromJob(job, created, now)));
    return created;
  });
  await processPipeline(db, pipeline.id, clock);
  return (await findPipeline(db, pipeline.id)) ?? pipeline;
}

/** A repository that cannot give the file is a config problem of this request: 400 with the reason. */
async function configFromRepository(project: ProjectRecord, sha: string): Promise<string> {
  try {
    return await readCiConfigFromRepository(project.repoUrl, sha);
  } catch (err) {
    if (err instanceof RepositoryReadError) throw new InvalidPipelineConfig([err.message]);
    throw err;
  }
}

function buildFromJob(job: CiJob, pipeline: PipelineRecord, now: string): NewBuildRecord {
  return {
    pipelineId: pipeline.id,
    projectId: pipeline.projectId,
    name: job.name,
    stage: job.stage,
    stageIdx: job.stageIdx,
    when: job.when,
    allowFailure: job.allowFailure,
    ref: pipeline.ref,
    tag: pipeline.tag,
    commands: job.commands,
    options: job.options,
    yamlVariables: job.yamlVariables,
    tagList: job.tags,
    token: newToken(),
    createdAt: now,
  };
}
