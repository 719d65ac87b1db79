import { findBuild, type BuildRecord } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { findLiveProject, type ProjectRecord } from '../store/projects.js';
import { tokensEqual } from './tokens.js';

/** Why a build token was refused, in the order GitLab 8.15's `authenticate_build!` checks. */
export type BuildAccessDenial = 'unknown-build' | 'bad-token' | 'project-deleted' | 'build-erased';

export type BuildAccess =
  | { granted: true; build: BuildRecord; project: ProjectRecord }
  | { granted: false; denial: BuildAccessDenial };

/**
 * Checks a build token (trace and artifact endpoints): the build's own token, or its
 * project's runners token, which GitLab kept accepting for old runners. A runner that
 * downloads a dependency's artifacts sends that dependency's own token, which is simply
 * that build's token here.
 */
export async function authenticateBuild(
  db: Db,
  buildId: number,
  token: string | undefined,
  /** Runner API v4 opens a job with its own job token only. */
  acceptRunnersToken = true,
): Promise<BuildAccess> {
  const build = await findBuild(db, buildId);
  if (!build) return { granted: false, denial: 'unknown-build' };
  // A project pending deletion is invisible, as under GitLab's default scope: its
  // runners token no longer opens anything, and its builds answer "deleted".
  const project = await findLiveProject(db, build.projectId);
  const tokenValid =
    tokensEqual(token, build.token) || (acceptRunnersToken && project !== undefined && tokensEqual(token, project.runnersToken));
  if (!tokenValid) return { granted: false, denial: 'bad-token' };
  if (!project) return { granted: false, denial: 'project-deleted' };
  if (build.erasedAt !== null) return { granted: false, denial: 'build-erased' };
  return { granted: true, build, project };
}
