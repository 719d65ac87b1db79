import type { components } from '../generated/api.js';
import type { Db } from '../store/db.js';
import { findLiveProject, findProjectByRunnersToken } from '../store/projects.js';
import { recordRunnerManager } from '../store/runnerManagers.js';
import {
  findRunnerByToken,
  insertRunner,
  type RunnerAccessLevel,
  type RunnerApiVersion,
  type RunnerRecord,
} from '../store/runners.js';
import type { Clock } from './clock.js';
import { versionInfoFrom } from './runnerContact.js';
import { newToken, tokenMatchesDigest } from './tokens.js';

type RunnerInfo = components['schemas']['RunnerInfo'];

/**
 * What registering asks for, from either API: v1's `runners/register` sends the first
 * fields; v4's `POST /runners` and `POST /user/runners` may set the others too.
 */
export interface RunnerSettingsRequest {
  description?: string;
  tagList?: string | string[];
  runUntagged?: boolean;
  locked?: boolean;
  paused?: boolean;
  accessLevel?: RunnerAccessLevel;
  maximumTimeout?: number;
  maintenanceNote?: string;
}

export interface RegistrationRequest extends RunnerSettingsRequest {
  /** The registration token or a project's runners token. */
  token: string;
  api: RunnerApiVersion;
  info?: RunnerInfo;
}

export type RegistrationOutcome =
  /** `token` is the runner's new token: shown this once, then kept only as a digest. */
  | { kind: 'registered'; runner: RunnerRecord; token: string }
  /** The token is neither the registration token nor a live project's runners token. */
  | { kind: 'unknown-token' }
  /** A runner with no tags that may not run untagged builds could never run anything. */
  | { kind: 'invalid-runner'; reason: string };

/** GitLab's cap on a runner's tags (Ci::Runner's TAG_LIST_MAX_LENGTH). */
export const MAX_TAGS = 50;

/** GitLab's floor for a runner's `maximum_timeout`. */
export const MINIMUM_MAXIMUM_TIMEOUT_SECONDS = 600;

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
 * not `contacted_at`: registering is not polling. The runner's token opens only the API
 * it registered through.
 */
export async function registerRunner(db: Db, clock: Clock, registrationTokenDigest: string, request: RegistrationRequest): Promise<RegistrationOutcome> {
  const isShared = tokenMatchesDigest(request.token, registrationTokenDigest);
  const project = isShared ? undefined : await findProjectByRunnersToken(db, request.token);
  if (!isShared && !project) return { kind: 'unknown-token' };
  return createRunner(db, clock, { ...request, isShared, projectId: project?.id, registrationType: 'registration_token' });
}

export type RunnerCreationRequest = RunnerSettingsRequest & {
  api: RunnerApiVersion;
  isShared: boolean;
  /** The project a specific runner belongs to. */
  projectId?: number;
  registrationType: RunnerRecord['registrationType'];
  info?: RunnerInfo;
};

/** The prefix of authentication tokens (runners created by a user): `gitlab-runner register --token glrt-…` looks for it. */
export const AUTHENTICATION_TOKEN_PREFIX = 'glrt-';

/**
 * A runner made by an administrator (`POST /api/v4/user/runners`), GitLab 16's way: it gets
 * a `glrt-` authentication token, which `gitlab-runner register --token` verifies instead of
 * registering. Such a runner speaks v4.
 */
export async function createAuthenticatedRunner(
  db: Db,
  clock: Clock,
  request: RunnerSettingsRequest & { isShared: boolean; projectId?: number },
): Promise<RegistrationOutcome | { kind: 'unknown-project' }> {
  if (request.projectId !== undefined && !(await findLiveProject(db, request.projectId))) return { kind: 'unknown-project' };
  return createRunner(db, clock, { ...request, api: 'v4', registrationType: 'authenticated_user' });
}

async function createRunner(db: Db, clock: Clock, request: RunnerCreationRequest): Promise<RegistrationOutcome> {
  const tagList = normalizeTagList(request.tagList);
  // GitLab 9+ caps a runner's tags; GitLab 8.x (v1) had no cap, and v1 runners keep registering as they did.
  if (request.api === 'v4' && tagList.length > MAX_TAGS) {
    return { kind: 'invalid-runner', reason: `tag_list: Too many tags specified. Please limit the number of tags to ${MAX_TAGS}` };
  }
  const runUntagged = request.runUntagged ?? true;
  if (!canRunAnything({ tagList, runUntagged })) {
    return { kind: 'invalid-runner', reason: 'tags_list can not be empty when runner is not allowed to pick untagged jobs' };
  }
  if (request.maximumTimeout !== undefined && request.maximumTimeout < MINIMUM_MAXIMUM_TIMEOUT_SECONDS) {
    return { kind: 'invalid-runner', reason: 'maximum_timeout needs to be at least 10 minutes' };
  }
  const info = versionInfoFrom(request.info);
  const token = request.registrationType === 'authenticated_user' ? `${AUTHENTICATION_TOKEN_PREFIX}${newToken()}` : newToken();
  const runner = await insertRunner(
    db,
    {
      apiVersion: request.api,
      registrationType: request.registrationType,
      accessLevel: request.accessLevel ?? 'not_protected',
      maximumTimeout: request.maximumTimeout ?? null,
      maintenanceNote: request.maintenanceNote ?? null,
      description: request.description ?? null,
      isShared: request.isShared,
      active: !(request.paused ?? false),
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
    token,
    request.projectId,
  );
  return { kind: 'registered', runner, token };
}

/** A runner with no tags that may not run untagged builds could never run anything (GitLab's validation). */
export function canRunAnything(runner: Pick<RunnerRecord, 'tagList' | 'runUntagged'>): boolean {
  return runner.tagList.length > 0 || runner.runUntagged;
}

/**
 * The runner whose token this is, only when it speaks `api`: a v1 runner's token opens
 * nothing under /api/v4 and a v4 runner's nothing under /ci/api/v1.
 */
export async function runnerSpeaking(db: Db, token: string | undefined, api: RunnerApiVersion): Promise<RunnerRecord | undefined> {
  const runner = token ? await findRunnerByToken(db, token) : undefined;
  return runner?.apiVersion === api ? runner : undefined;
}

/**
 * `POST /api/v4/runners/verify`: the v4 runner of this token, with the host that asked
 * recorded as one of its managers when it said which one it is.
 */
export async function verifyRunner(db: Db, clock: Clock, token: string, systemId: string | undefined): Promise<RunnerRecord | undefined> {
  const runner = await runnerSpeaking(db, token, 'v4');
  if (runner && systemId) await recordRunnerManager(db, runner.id, systemId, clock.now().toISOString());
  return runner;
}
