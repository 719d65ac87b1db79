import type { components } from '../generated/api.js';
import type { Db } from '../store/db.js';
import { touchRunnerContact, type RunnerRecord, type RunnerVersionInfo } from '../store/runners.js';
import type { Clock } from './clock.js';

type RunnerInfo = components['schemas']['RunnerInfo'];

/**
 * How stale `contacted_at` must be before a poll writes it again. GitLab 8.13+ waited
 * 10–20 minutes; a later issue defines "online" as "contacted within the last hour", and
 * 60 s keeps that (and the version info) accurate while a runner polling every few
 * seconds still costs one write a minute instead of one per poll.
 */
export const CONTACT_REFRESH_MS = 60_000;

const VERSION_KEYS = ['name', 'version', 'revision', 'platform', 'architecture'] as const;

/** The version fields a runner sent, each only when it sent it as a string. */
export function versionInfoFrom(info: RunnerInfo | undefined): Partial<RunnerVersionInfo> {
  const picked: Partial<RunnerVersionInfo> = {};
  for (const key of VERSION_KEYS) {
    const value = info?.[key];
    if (typeof value === 'string') picked[key] = value;
  }
  return picked;
}

/**
 * Records that the runner called (builds/register, PUT builds/:id): `contacted_at` and
 * its version info, when the last recorded contact is older than CONTACT_REFRESH_MS.
 * As in GitLab, info sent between two refreshes is not stored.
 */
export async function recordRunnerContact(db: Db, clock: Clock, runner: RunnerRecord, info: RunnerInfo | undefined): Promise<void> {
  const now = clock.now();
  const staleBefore = new Date(now.getTime() - CONTACT_REFRESH_MS).toISOString();
  if (runner.contactedAt !== null && runner.contactedAt >= staleBefore) return;
  await touchRunnerContact(db, runner.id, now.toISOString(), staleBefore, versionInfoFrom(info));
}
