/**
 * Triggers: a token that lets another system start a pipeline of one project
 * (GitLab 8.15's `Ci::Trigger`), without the user API's PRIVATE-TOKEN.
 */
import type { Db } from '../store/db.js';
import { findNewestPipelineForRef, type PipelineRecord, type PipelineVariable } from '../store/pipelines.js';
import type { ProjectRecord } from '../store/projects.js';
import { findTriggerByToken, type TriggerRecord } from '../store/triggers.js';
import type { Clock } from './clock.js';
import { createPipeline } from './pipelineCreation.js';
import { RepositoryReadError, resolveRef } from './repositoryConfig.js';
import { isVariableKey } from './variables.js';

/** Why a trigger token was refused: GitLab answered 404 and 401 respectively. */
export type TriggerDenial = 'unknown-token' | 'other-project';

export type TriggerAccess = { granted: true; trigger: TriggerRecord } | { granted: false; denial: TriggerDenial };

/**
 * Finds the trigger of `token` and checks that it belongs to `project`. The lookup goes
 * through the unique digest index, as GitLab's `find_by_token` did: telling "unknown" (404)
 * from "another project's" (401) needs the trigger whatever its project.
 */
export async function authenticateTrigger(db: Db, project: ProjectRecord, token: string): Promise<TriggerAccess> {
  const trigger = await findTriggerByToken(db, token);
  if (!trigger) return { granted: false, denial: 'unknown-token' };
  if (trigger.projectId !== project.id) return { granted: false, denial: 'other-project' };
  return { granted: true, trigger };
}

/** Why a trigger request made no pipeline (bad variables, a ref of no known commit), for the caller. */
export class TriggerRequestRefused extends Error {}

/**
 * A trigger request's `variables` (JSON object or form `variables[KEY]=value`) as pipeline
 * variables, checked as GitLab 8.15 did; keys must also be environment variable names.
 * Absent or null means none.
 */
export function triggerVariables(value: unknown): PipelineVariable[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'object' || Array.isArray(value)) throw new TriggerRequestRefused('variables needs to be a hash');
  const variables: PipelineVariable[] = [];
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw new TriggerRequestRefused('variables needs to be a map of key-valued strings');
    if (!isVariableKey(key)) throw new TriggerRequestRefused(`variables key ${JSON.stringify(key)} must match [A-Za-z0-9_]+`);
    variables.push({ key, value: entry });
  }
  return variables;
}

export interface TriggerRequest {
  trigger: TriggerRecord;
  ref: string;
  variables: PipelineVariable[];
}

/**
 * Creates the pipeline a trigger asks for, with the project's config (or the repository's
 * `.gitlab-ci.yml`, as any pipeline without one). The variables become trigger variables:
 * secret, and the builds get CI_BUILD_TRIGGERED.
 */
export async function createTriggeredPipeline(db: Db, clock: Clock, project: ProjectRecord, request: TriggerRequest): Promise<PipelineRecord> {
  const head = await refHead(db, project, request.ref);
  // No before_sha: no push happened, so it is GitLab's blank sha (createPipeline's default).
  return createPipeline(db, clock, project, {
    ref: request.ref,
    sha: head.sha,
    tag: head.tag,
    variables: request.variables,
    triggerId: request.trigger.id,
  });
}

/**
 * The commit a trigger builds. A trigger names only a ref, and we host no git: the
 * project's newest pipeline for the ref tells its commit (and whether it is a tag), as
 * any API-fed project has one; else a repository on this machine tells the branch's or
 * tag's head (reported as a branch: resolveRef does not say which it found).
 */
async function refHead(db: Db, project: ProjectRecord, ref: string): Promise<{ sha: string; tag: boolean }> {
  const newest = await findNewestPipelineForRef(db, project.id, ref);
  if (newest) return { sha: newest.sha, tag: newest.tag };
  let sha: string | undefined;
  try {
    sha = await resolveRef(project.repoUrl, ref);
  } catch (err) {
    if (!(err instanceof RepositoryReadError)) throw err;
    throw new TriggerRequestRefused(`No pipeline for ref ${ref} yet: create one through the API first`);
  }
  if (sha === undefined) throw new TriggerRequestRefused(`No branch or tag ${ref} in ${project.repoUrl}, and no pipeline for it yet`);
  return { sha, tag: false };
}
