import type { Context as OpenApiContext } from 'openapi-backend';
import { readTrace } from '../domain/traces.js';
import { notFound } from '../http/errors.js';
import { pathInteger, type AppDeps, type OperationHandlers } from '../http/handlers.js';
import { sendJson } from '../http/respond.js';
import { findBuildInProject, listPipelineBuilds, type BuildRecord } from '../store/builds.js';
import { findPipelineInProject } from '../store/pipelines.js';
import { findLiveProject } from '../store/projects.js';
import { findRunner, type RunnerRecord } from '../store/runners.js';
import { sendArtifacts } from './artifacts.js';
import { presentJob } from './presenters.js';

/** The user API's view of builds ("jobs" in GitLab v4 words). Projects pending deletion are invisible. */
export function jobHandlers({ db, config, clock }: AppDeps): OperationHandlers {
  /** The job `{job_id}` of the live project `{id}`; a job of another project is 404. */
  const findJob = async (c: OpenApiContext): Promise<BuildRecord> => {
    const project = await findLiveProject(db, pathInteger(c, 'id'));
    const build = project && (await findBuildInProject(db, project.id, pathInteger(c, 'job_id')));
    if (!build) throw notFound();
    return build;
  };

  /** Looks up the runners of `builds`, each once. */
  const runnerLookup = async (builds: BuildRecord[]): Promise<(build: BuildRecord) => RunnerRecord | undefined> => {
    const runners = new Map<number, RunnerRecord | undefined>();
    for (const build of builds) {
      if (build.runnerId !== null && !runners.has(build.runnerId)) runners.set(build.runnerId, await findRunner(db, build.runnerId));
    }
    return (build) => (build.runnerId === null ? undefined : runners.get(build.runnerId));
  };

  return {
    async listPipelineJobs(c, ctx) {
      const project = await findLiveProject(db, pathInteger(c, 'id'));
      const pipeline = project && (await findPipelineInProject(db, project.id, pathInteger(c, 'pipeline_id')));
      if (!pipeline) throw notFound();
      const builds = await listPipelineBuilds(db, pipeline.id); // stage order, then id
      const runnerOf = await runnerLookup(builds);
      const now = clock.now();
      sendJson(ctx, 200, builds.map((build) => presentJob(build, runnerOf(build), now)));
    },

    async getJob(c, ctx) {
      const build = await findJob(c);
      const runnerOf = await runnerLookup([build]);
      sendJson(ctx, 200, presentJob(build, runnerOf(build), clock.now()));
    },

    /** Exactly the stored bytes (tokens already masked), as text/plain; empty before any trace. */
    async getJobTrace(c, ctx) {
      const build = await findJob(c);
      ctx.status = 200;
      ctx.body = await readTrace(db, build.id);
      ctx.set('Content-Type', 'text/plain');
    },

    async downloadJobArtifacts(c, ctx) {
      await sendArtifacts(ctx, config.dataDir, await findJob(c));
    },
  };
}
