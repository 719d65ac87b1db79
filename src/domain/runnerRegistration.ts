import type { components } from '../generated/api.js';
import type { Db } from '../store/db.js';
import { findProjectByRunnersToken } from '../store/projects.js';
import { insertRunner, type RunnerRecord } from '../store/runners.js';
import type { Clock } from './clock.js';
import { versionInfoFrom } from './runnerContact.js';
import { newToken, tokensEqual } from './tokens.js';

type RunnerRegistration = components['schemas']['RunnerRegistration'];

export type RegistrationOutcome =
  | { kind: 'registered'; runner: RunnerRecord }
  /** The token is neither the registration token nor a live project's runners token. */
  | { kind: 'unknown-token' }
  /** A runner with no tags that may not run untagged builds could never run anything. */
  | { kind: 'invalid-runner' };

/**
 * `tag_list` as the runner sends it (`"tag1, tag2"`) or as an array: trimmed, blanks
 * dropped, each tag once, sorted.
 */
export function normalizeTagList(tagList: string | string[] | undefined): string[] {
  if (tagList === undefined) return [];
  const pieces = (Array.isArray(tagList) ? tagList : [tagList]).flatMap((entry) => entry.split(','));
  const tags = new Set(pieces.map((tag) => tag.trim()).filter((tag) => tag !== ''));
  return [...tags].sort();
}

/**
 * Registers a runner: the instance's registration token makes a shared runner, a live
 * project's runners token a specific runner of that project. Version info is stored, but
 * not `contacted_at`: registering is not polling.
 */
export async function registerRunner(
  db: Db,
  clock: Clock,
  registrationToken: string,
  request: RunnerRegistration,
): Promise<RegistrationOutcome> {
  const isShared = tokensEqual(request.token, registrationToken);
  const project = isShared ? undefined : await findProjectByRunnersToken(db, request.token);
  if (!isShared && !project) return { kind: 'unknown-token' };

  const tagList = normalizeTagList(request.tag_list);
  const runUntagged = request.run_untagged ?? true;
  if (!canRunAnything({ tagList, runUntagged })) return { kind: 'invalid-runner' };

  const info = versionInfoFrom(request.info);
  const runner = await insertRunner(
    db,
    {
      token: newToken(),
      description: request.description ?? null,
      isShared,
      locked: request.locked ?? false,
      runUntagged,
      tagList,
      name: info.name ?? null,
      version: info.version ?? null,
      revision: info.revision ?? null,
      platform: info.platform ?? null,
      architecture: info.architecture ?? null,
      createdAt: clock.now().toISOString(),
    },
    project?.id,
  );
  return { kind: 'registered', runner };
}

/** A runner with no tags that may not run untagged builds could never run anything (GitLab's validation). */
export function canRunAnything(runner: Pick<RunnerRecord, 'tagList' | 'runUntagged'>): boolean {
  return runner.tagList.length > 0 || runner.runUntagged;
}
