/**
 * Runner administration as GitLab 8.x's admin API did it: a runner's status, the
 * listing's scopes, settings changes, and assigning specific runners to projects.
 */
import type { components, operations } from '../generated/api.js';
import type { Db } from '../store/db.js';
import {
  deleteRunner,
  linkRunnerToProject,
  listRunnerProjects,
  unlinkRunnerFromProject,
  updateRunnerSettings,
  withLockedRunner,
  type RunnerFilter,
  type RunnerRecord,
} from '../store/runners.js';
import { canRunAnything, normalizeTagList } from './runnerRegistration.js';
import { announceRunnerChange } from './queueAnnouncements.js';

type Schemas = components['schemas'];
export type RunnerScope = NonNullable<NonNullable<operations['listAllRunners']['parameters']['query']>['scope']>;

/** "Online" in GitLab: contacted within the last hour. */
export const ONLINE_WINDOW_MS = 60 * 60 * 1000;

export function onlineSince(now: Date): string {
  return new Date(now.getTime() - ONLINE_WINDOW_MS).toISOString();
}

export function isOnline(runner: Pick<RunnerRecord, 'contactedAt'>, now: Date): boolean {
  return runner.contactedAt !== null && runner.contactedAt >= onlineSince(now);
}

export function runnerStatus(runner: Pick<RunnerRecord, 'active' | 'contactedAt'>, now: Date): Schemas['RunnerStatus'] {
  if (!runner.active) return 'paused';
  if (runner.contactedAt === null) return 'not_connected';
  return isOnline(runner, now) ? 'online' : 'offline';
}

/** The listing's `scope` and `tag_list` (comma-separated) as a store filter. */
export function runnerFilterFor(query: { scope?: RunnerScope; tagList?: string }, now: Date): RunnerFilter {
  const filter: RunnerFilter = { tags: normalizeTagList(query.tagList) };
  switch (query.scope) {
    case 'active':
      return { ...filter, active: true };
    case 'paused':
      return { ...filter, active: false };
    case 'online':
      return { ...filter, contactedSince: onlineSince(now) };
    case 'specific':
      return { ...filter, isShared: false };
    case 'shared':
      return { ...filter, isShared: true };
    default:
      return filter;
  }
}

export type RunnerUpdateOutcome =
  | { kind: 'updated'; runner: RunnerRecord }
  | { kind: 'unknown-runner' }
  | { kind: 'invalid'; reason: string };

/**
 * Applies the given settings over the stored ones. The check of tags against
 * run_untagged sees the merged result, under the runner's lock, so two updates that
 * are each valid alone cannot together leave a runner that runs nothing.
 */
export async function updateRunner(db: Db, runnerId: number, update: Schemas['RunnerUpdate']): Promise<RunnerUpdateOutcome> {
  const outcome = await withLockedRunner(db, runnerId, async (trx, current): Promise<RunnerUpdateOutcome> => {
    const settings = {
      description: update.description ?? current.description,
      active: update.active ?? current.active,
      tagList: update.tag_list === undefined ? current.tagList : normalizeTagList(update.tag_list),
      runUntagged: update.run_untagged ?? current.runUntagged,
      locked: update.locked ?? current.locked,
    };
    if (!canRunAnything(settings)) {
      return { kind: 'invalid', reason: 'tag_list can not be empty when runner is not allowed to pick untagged jobs' };
    }
    const runner = await updateRunnerSettings(trx, runnerId, settings);
    return runner ? { kind: 'updated', runner } : { kind: 'unknown-runner' };
  });
  if (outcome?.kind === 'updated') announceRunnerChange(db, runnerId);
  return outcome ?? { kind: 'unknown-runner' };
}

export type AssignmentOutcome =
  | { kind: 'assigned'; runner: RunnerRecord }
  | { kind: 'unknown-runner' }
  | { kind: 'refused'; reason: string };

/**
 * Assigns a specific runner to one more (live) project. Shared runners already serve
 * every project, and a locked one is locked to the projects it has.
 */
export async function assignRunnerToProject(db: Db, runnerId: number, projectId: number): Promise<AssignmentOutcome> {
  const outcome = await withLockedRunner(db, runnerId, async (trx, runner): Promise<AssignmentOutcome> => {
    if (runner.isShared) return { kind: 'refused', reason: `Runner ${runner.id} is shared: it already serves every project` };
    if (runner.locked) return { kind: 'refused', reason: `Runner ${runner.id} is locked to its projects` };
    const assigned = await listRunnerProjects(trx, runnerId);
    if (assigned.some((project) => project.id === projectId)) {
      return { kind: 'refused', reason: 'Runner was already enabled for this project' };
    }
    await linkRunnerToProject(trx, runnerId, projectId);
    return { kind: 'assigned', runner };
  });
  if (outcome?.kind === 'assigned') announceRunnerChange(db, runnerId);
  return outcome ?? { kind: 'unknown-runner' };
}

export type UnassignmentOutcome = { kind: 'removed' } | { kind: 'not-assigned' } | { kind: 'refused'; reason: string };

/** Removes a runner from a project, but never from its last one: that is what deleting it is for. */
export async function unassignRunnerFromProject(db: Db, runnerId: number, projectId: number): Promise<UnassignmentOutcome> {
  const outcome = await withLockedRunner(db, runnerId, async (trx): Promise<UnassignmentOutcome> => {
    const assigned = await listRunnerProjects(trx, runnerId);
    if (!assigned.some((project) => project.id === projectId)) return { kind: 'not-assigned' };
    if (assigned.length === 1) {
      return { kind: 'refused', reason: 'Only one project associated with the runner. Please remove the runner instead' };
    }
    await unlinkRunnerFromProject(trx, runnerId, projectId);
    return { kind: 'removed' };
  });
  if (outcome?.kind === 'removed') announceRunnerChange(db, runnerId);
  return outcome ?? { kind: 'not-assigned' };
}

/**
 * Deletes a runner (the admin API, or the runner unregistering itself). Every process then
 * forgets it at once: a held poll of it ends, and its token opens nothing any more.
 */
export async function removeRunner(db: Db, runnerId: number): Promise<boolean> {
  const removed = await deleteRunner(db, runnerId);
  if (removed) announceRunnerChange(db, runnerId);
  return removed;
}
