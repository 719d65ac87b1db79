import type { components } from '../generated/api.js';
import type { Db } from '../store/db.js';
import { touchRunnerContact, type RunnerRecord, type RunnerVersionInfo } from '../store/runners.js';
import { recordRunnerManager } from '../store/runnerManagers.js';
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

interface PendingContact {
  contactedAt: string;
  staleBefore: string;
  info: Partial<RunnerVersionInfo>;
}

/**
 * The contacts of build requests (contacted_at and version info), written together: the
 * contacts recorded while one write is in flight all go into the next write, one
 * transaction, so at thousands of polls a second the database sees a write per batch,
 * never one per poll (group commit). The same rule as recordRunnerContact decides what
 * is recorded at all; the runner record the caller holds (the auth cache's) learns the
 * new contact at once, so that its next polls record nothing. The promise a request
 * awaits settles when its batch committed, so whoever reads the runner next sees it.
 */
export class RunnerContacts {
  private pending = new Map<number, PendingContact>();
  /** v4 runner managers (runner id, system_id) to upsert, and when each was last written. */
  private pendingManagers = new Map<string, { runnerId: number; systemId: string; now: string }>();
  private readonly managersWrittenAt = new Map<string, number>();
  private nextBatch: Promise<void> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  record(runner: RunnerRecord, info: RunnerInfo | undefined): Promise<void> {
    const now = this.clock.now();
    const staleBefore = new Date(now.getTime() - CONTACT_REFRESH_MS).toISOString();
    if (runner.contactedAt !== null && runner.contactedAt >= staleBefore) return Promise.resolve();
    runner.contactedAt = now.toISOString();
    this.pending.set(runner.id, { contactedAt: runner.contactedAt, staleBefore, info: versionInfoFrom(info) });
    return this.flush();
  }

  /** A v4 runner's host (`system_id`) polled: written with the batch, at most once a minute per host. */
  recordManager(runnerId: number, systemId: string): Promise<void> {
    const now = this.clock.now();
    const key = `${runnerId}\n${systemId}`;
    const written = this.managersWrittenAt.get(key);
    if (written !== undefined && now.getTime() - written < CONTACT_REFRESH_MS) return Promise.resolve();
    this.managersWrittenAt.set(key, now.getTime());
    this.pendingManagers.set(key, { runnerId, systemId, now: now.toISOString() });
    return this.flush();
  }

  /** Settles when every contact recorded so far is written. */
  flush(): Promise<void> {
    // One batch waits behind the write in flight and takes everything recorded meanwhile.
    this.nextBatch ??= this.writing.then(
      () => this.writeBatch(),
      () => this.writeBatch(),
    );
    return this.nextBatch;
  }

  private async writeBatch(): Promise<void> {
    const batch = this.pending;
    const managers = this.pendingManagers;
    this.pending = new Map();
    this.pendingManagers = new Map();
    this.nextBatch = undefined;
    this.writing = (async () => {
      if (batch.size === 0 && managers.size === 0) return;
      await this.db.transaction(async (trx) => {
        for (const [id, contact] of batch) await touchRunnerContact(trx, id, contact.contactedAt, contact.staleBefore, contact.info);
        for (const manager of managers.values()) await recordRunnerManager(trx, manager.runnerId, manager.systemId, manager.now);
      });
    })();
    return this.writing;
  }
}
