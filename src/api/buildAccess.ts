import type { Context as OpenApiContext } from 'openapi-backend';
import { authenticateBuild, type BuildAccessDenial } from '../domain/buildAuth.js';
import type { BuildRecord } from '../store/builds.js';
import type { Db } from '../store/db.js';
import type { ProjectRecord } from '../store/projects.js';
import { forbidden, notFound, type HttpError } from '../http/errors.js';
import { pathInteger } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';

/**
 * The build token of a trace or artifact request: the `token` parameter wins over the
 * `BUILD-TOKEN` header (the runner sends it as `Build-Token`; headers arrive lower-cased).
 * The artifacts calls have their parameters (body over query string) as their request body;
 * the trace PATCH, whose body is the chunk, has them in its query.
 */
export function buildTokenOf(c: OpenApiContext): string | undefined {
  return tokenParameter(c.request.requestBody) ?? singleValue(c.request.query.token) ?? singleValue(c.request.headers['build-token']);
}

/** The (validated) `token` of a parameters object, if it has one. */
export function tokenParameter(parameters: unknown): string | undefined {
  const token = typeof parameters === 'object' && parameters !== null ? (parameters as { token?: unknown }).token : undefined;
  return typeof token === 'string' ? token : undefined;
}

/** The build of `{id}` and its project, or the 404/403 GitLab answered. */
export async function requireBuildAccess(
  db: Db,
  c: OpenApiContext,
  token: string | undefined = buildTokenOf(c),
): Promise<{ build: BuildRecord; project: ProjectRecord }> {
  const buildId = pathInteger(c, 'id');
  annotateRequest(c, { buildId });
  const access = await authenticateBuild(db, buildId, token);
  if (!access.granted) throw denialError(access.denial);
  if (access.build.runnerId !== null) annotateRequest(c, { runnerId: access.build.runnerId });
  return access;
}

function denialError(denial: BuildAccessDenial): HttpError {
  switch (denial) {
    case 'unknown-build':
      return notFound();
    case 'bad-token':
      return forbidden();
    case 'project-deleted':
      return forbidden('Project has been deleted!');
    case 'build-erased':
      return forbidden('Build has been erased!');
  }
}

/** A query parameter or header given more than once counts with its first value. */
export function singleValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
