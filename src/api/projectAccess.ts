import type { Context as OpenApiContext } from 'openapi-backend';
import { notFound } from '../http/errors.js';
import { pathInteger } from '../http/handlers.js';
import type { Db } from '../store/db.js';
import { findLiveProject, type ProjectRecord } from '../store/projects.js';

/** The live project of path parameter `{id}`; unknown or pending deletion is 404. */
export async function requireLiveProject(db: Db, c: OpenApiContext): Promise<ProjectRecord> {
  const project = await findLiveProject(db, pathInteger(c, 'id'));
  if (!project) throw notFound();
  return project;
}
