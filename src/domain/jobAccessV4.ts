/**
 * Who may touch a job's artifacts through the runner API v4 (runner-protocol-v4.md §5):
 * uploading takes the job's own token while it runs on a v4 runner; downloading takes the
 * job's own token (what the runner sends for a dependency) or the token of a running job of
 * the same project.
 */
import { findBuild, findBuildByToken, type BuildRecord } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { findLiveProject, type ProjectRecord } from '../store/projects.js';
import { findRunner, type RunnerApiVersion } from '../store/runners.js';
import { tokensEqual } from './tokens.js';

/** The job states in which a runner is still working on it (`canceling`: it runs after_script). */
const RUNNER_WORKING_STATES: ReadonlySet<string> = new Set(['running', 'canceling']);

export type RunningJobAccess =
  | { granted: true; build: BuildRecord; project: ProjectRecord }
  | { granted: false; denial: 'unknown-job' | 'bad-token' | 'project-deleted' | 'job-erased' | 'not-running' | 'other-api'; build?: BuildRecord };

/**
 * A job the token may upload to: its own token, its project live, not erased, running,
 * and on a runner that registered through API v4 (a v1 runner's job uses /ci/api/v1).
 */
export async function authenticateRunningV4Job(db: Db, buildId: number, token: string | undefined): Promise<RunningJobAccess> {
  const build = await findBuild(db, buildId);
  if (!build) return { granted: false, denial: 'unknown-job' };
  if (!tokensEqual(token, build.token)) return { granted: false, denial: 'bad-token' };
  const project = await findLiveProject(db, build.projectId);
  if (!project) return { granted: false, denial: 'project-deleted' };
  if (build.erasedAt !== null) return { granted: false, denial: 'job-erased' };
  if (!RUNNER_WORKING_STATES.has(build.status)) return { granted: false, denial: 'not-running', build };
  if (!(await runsOnRunnerApi(db, build, 'v4'))) return { granted: false, denial: 'other-api' };
  return { granted: true, build, project };
}

/** Whether the build's runner registered through `api`: a job is driven through its runner's API only. */
export async function runsOnRunnerApi(db: Db, build: BuildRecord, api: RunnerApiVersion): Promise<boolean> {
  const runner = build.runnerId === null ? undefined : await findRunner(db, build.runnerId);
  return runner?.apiVersion === api;
}

export type DownloadAccess =
  | { granted: true; build: BuildRecord }
  | { granted: false; denial: 'unknown-job' | 'unauthenticated' | 'other-project' | 'project-deleted' };

/**
 * The job whose archive the token may download. Its own token opens it in any state, as
 * in v1 and whichever API ran it (a v4 job's dependency may have run on a v1 runner). Any
 * other token must be a running job's (GitLab's dependent job) of the same project.
 */
export async function authenticateArtifactsDownload(db: Db, buildId: number, token: string | undefined): Promise<DownloadAccess> {
  const build = await findBuild(db, buildId);
  if (!build) return { granted: false, denial: 'unknown-job' };
  if (!tokensEqual(token, build.token)) {
    const dependent = token ? await findBuildByToken(db, token) : undefined;
    if (!dependent || !RUNNER_WORKING_STATES.has(dependent.status)) return { granted: false, denial: 'unauthenticated' };
    if (dependent.projectId !== build.projectId) return { granted: false, denial: 'other-project' };
  }
  if (!(await findLiveProject(db, build.projectId))) return { granted: false, denial: 'project-deleted' };
  return { granted: true, build };
}
