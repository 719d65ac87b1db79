import type { Context as OpenApiContext } from 'openapi-backend';
import type { components } from '../generated/api.js';
import { readTrace } from '../domain/traces.js';
import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { pageRequest, setPaginationHeaders } from '../http/pagination.js';
import { sendJson } from '../http/respond.js';
import { listPipelineBuilds, type BuildRecord, type BuildStatus } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { listProjectBuilds } from '../store/listings.js';
import { findRunner, type RunnerRecord } from '../store/runners.js';
import { listArchives } from '../store/artifacts.js';
import { sendArtifacts } from './artifacts.js';
import { presentJob } from './presenters.js';
import { requireLiveProject, requireProjectJob, requireProjectPipeline } from './projectAccess.js';

type Job = components['schemas']['Job'];

/** Looks up the runners of `builds`, each once. */
export async function lookUpRunners(db: Db, builds: BuildRecord[]): Promise<(build: BuildRecord) => RunnerRecord | undefined> {
  const runners = new Map<number, RunnerRecord | undefined>();
  for (const build of builds) {
    if (build.runnerId !== null && !runners.has(build.runnerId)) runners.set(build.runnerId, await findRunner(db, build.runnerId));
  }
  return (build) => (build.runnerId === null ? undefined : runners.get(build.runnerId));
}

/** Jobs as the user API shows them, each with its runner and archive. */
export async function presentJobs(db: Db, builds: BuildRecord[], now: Date): Promise<Job[]> {
  const runnerOf = await lookUpRunners(db, builds);
  const archives = await listArchives(db, builds.map((build) => build.id));
  return builds.map((build) => presentJob(build, runnerOf(build), archives.get(build.id), now));
}

/** The user API's view of builds ("jobs" in GitLab v4 words). Projects pending deletion are invisible. */
export function jobHandlers({ db, config, clock, metrics }: AppDeps): OperationHandlers {
  const findJob = (c: OpenApiContext) => requireProjectJob(db, c);

  return {
    async listPipelineJobs(c, ctx) {
      const pipeline = await requireProjectPipeline(db, c);
      const builds = await listPipelineBuilds(db, pipeline.id); // stage order, then id
      sendJson(ctx, 200, await presentJobs(db, builds, clock.now()));
    },

    /** The project's jobs, newest first, one page at a time; `scope[]` keeps only those statuses. */
    async listProjectJobs(c, ctx) {
      const project = await requireLiveProject(db, c);
      const page = pageRequest(c);
      const listing = await listProjectBuilds(db, project.id, scopeOf(c), page);
      setPaginationHeaders(ctx, page, listing.total);
      sendJson(ctx, 200, await presentJobs(db, listing.items, clock.now()));
    },

    async getJob(c, ctx) {
      sendJson(ctx, 200, (await presentJobs(db, [await findJob(c)], clock.now()))[0]);
    },

    /** Exactly the stored bytes (tokens already masked), as text/plain; empty before any trace. */
    async getJobTrace(c, ctx) {
      const build = await findJob(c);
      ctx.status = 200;
      ctx.body = await readTrace(db, build.id);
      ctx.set('Content-Type', 'text/plain');
    },

    async downloadJobArtifacts(c, ctx) {
      await sendArtifacts(ctx, db, config.dataDir, await findJob(c), metrics);
    },
  };
}

/** `scope[]`, one status or several (already validated against BuildStatus); absent means all. */
function scopeOf(c: OpenApiContext): BuildStatus[] | undefined {
  const scope = c.request.query['scope[]'];
  if (scope === undefined) return undefined;
  return (Array.isArray(scope) ? scope : [scope]) as BuildStatus[];
}
