import type { operations } from '../generated/api.js';
import type { RunnerFilter } from '../store/runners.js';
import { onlineSince } from './runnerAdmin.js';
import { normalizeTagList } from './runnerRegistration.js';

type OwnedRunnersQuery = NonNullable<operations['listOwnedRunners']['parameters']['query']>;

/**
 * `GET /api/v4/runners`, GitLab's runners "owned" by the caller: the specific runners of
 * their projects. Every caller here sees every project, so that is every specific runner;
 * shared (instance) runners belong to no one's projects and there are no groups, so asking
 * for those types matches nothing (undefined).
 */
export function ownedRunnerFilterFor(query: OwnedRunnersQuery, now: Date): RunnerFilter | undefined {
  if (query.type !== undefined && query.type !== 'project_type') return undefined;
  const filter: RunnerFilter = { isShared: false, tags: normalizeTagList(query.tag_list) };
  if (query.paused !== undefined) filter.active = !query.paused;
  switch (query.status) {
    case 'online':
      return { ...filter, contactedSince: onlineSince(now) };
    case 'offline':
      return { ...filter, contactedBefore: onlineSince(now) };
    case 'never_contacted':
      return { ...filter, neverContacted: true };
    default:
      return filter;
  }
}
