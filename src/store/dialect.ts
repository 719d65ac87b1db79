/**
 * The one place where SQL differs between the two stores. Everything else in src/store is
 * written once, in what SQLite and PostgreSQL both understand; what only one of them has
 * (JSON operators, row locks that skip, advisory locks) is branched here and nowhere else.
 */
import type { Knex } from 'knex';
import type { Db } from './db.js';

export function isPostgres(db: Db): boolean {
  return db.client.config.client === 'pg';
}

/** The size in bytes of a binary column's value. */
export function byteLength(db: Db, column: string): string {
  return isPostgres(db) ? `octet_length(${column})` : `length(${column})`;
}

/*
 * Tag lists are stored as JSON arrays of strings (runners.tag_list, builds.tag_list). These
 * predicates match on the elements, not on the text, so a match is exact and case-sensitive in
 * both databases, as tags are everywhere else. Each returns the SQL and its bindings for
 * `whereRaw`; `column` is a trusted column name, never input.
 */

/** The list holds every one of `tags` (a runner that has all the tags asked for). */
export function tagListHasAll(db: Db, column: string, tags: string[]): [string, string[]] {
  if (isPostgres(db)) return [`${column}::jsonb @> ?::jsonb`, [JSON.stringify(tags)]];
  return [`(select count(distinct value) from json_each(${column}) where value in (${placeholders(tags)})) = ${tags.length}`, tags];
}

/** Every element of the list is one of `tags` (a build whose tags a runner covers). */
export function tagListWithin(db: Db, column: string, tags: string[]): [string, string[]] {
  if (isPostgres(db)) return [`${column}::jsonb <@ ?::jsonb`, [JSON.stringify(tags)]];
  return [`not exists (select 1 from json_each(${column}) where value not in (${placeholders(tags)}))`, tags];
}

function placeholders(values: string[]): string {
  return values.map(() => '?').join(', ');
}

/**
 * How a runner's poll reads the queue and claims a build.
 *
 * PostgreSQL: in one transaction, the candidate query locks the row it returns with
 * `FOR UPDATE OF <table> SKIP LOCKED`, one row at a time, and the claim follows. Concurrent polls
 * never wait for each other and never pick the same row: each gets the first build nobody else
 * holds, so a poll cannot lose a race it did not see coming (no starving under contention).
 *
 * SQLite has no row locks: a process's one connection runs its queries one at a time, and the
 * claim's conditional UPDATE decides between processes. A lone claim's scan runs outside a
 * transaction, which would hold that connection (and the file's write lock) for the whole scan;
 * candidates are read in windows and a lost claim moves on to the next. Claims that waited in
 * line together are batched into one transaction that writes first (assignNextBuilds in
 * domain/buildQueue.ts): one commit for the lot, the write lock held from the start.
 */
export interface ClaimStrategy {
  /** Candidates read per query. */
  batchSize: number;
  /** Runs the scan and the claim; `work` gets the connection (or transaction) to use for both. */
  run<T>(db: Db, work: (scope: Db) => Promise<T>): Promise<T>;
  /** Makes a candidate query lock what it returns (PostgreSQL), skipping rows other polls hold. */
  lockCandidates(query: Knex.QueryBuilder, table: string): Knex.QueryBuilder;
  /**
   * PostgreSQL: the claiming runner's row is locked against deletion (FOR KEY SHARE) before
   * anything else, so that the claim's foreign key holds until the commit; a runner deleted first
   * is found gone. Undefined on SQLite, where the claim's own UPDATE checks the runner.
   */
  lockRunner: ((query: Knex.QueryBuilder) => Knex.QueryBuilder) | undefined;
}

const SKIP_LOCKED_CLAIM: ClaimStrategy = {
  batchSize: 1,
  run: (db, work) => db.transaction((trx) => work(trx)),
  lockCandidates: (query, table) => query.forUpdate(table).skipLocked(),
  lockRunner: (query) => query.forKeyShare(),
};

const CONDITIONAL_UPDATE_CLAIM: ClaimStrategy = {
  batchSize: 50,
  run: (db, work) => work(db),
  lockCandidates: (query) => query,
  lockRunner: undefined,
};

export function claimStrategy(db: Db): ClaimStrategy {
  return isPostgres(db) ? SKIP_LOCKED_CLAIM : CONDITIONAL_UPDATE_CLAIM;
}

/**
 * SQLite: folds the write-ahead log into the database file and empties it, so pages a migration
 * overwrote (old secrets) are gone from the WAL too. PostgreSQL manages its WAL itself.
 */
export async function truncateWriteAheadLog(db: Db): Promise<void> {
  if (!isPostgres(db)) await db.raw('PRAGMA wal_checkpoint(TRUNCATE)');
}

/**
 * Runs `work` while this process holds a database-wide lock named by `key`, waiting for any other
 * process that holds it. PostgreSQL: a session advisory lock on a connection set aside for it (work
 * runs on the pool's other connections). SQLite: nothing to do, the file's write lock (with
 * busy_timeout) already serialises writers across processes.
 */
export async function withDatabaseLock<T>(db: Db, key: AdvisoryLockKey, work: () => Promise<T>): Promise<T> {
  if (!isPostgres(db)) return work();
  const connection = await db.client.acquireConnection();
  try {
    await db.raw('select pg_advisory_lock(?)', [key]).connection(connection);
    try {
      return await work();
    } finally {
      await db.raw('select pg_advisory_unlock(?)', [key]).connection(connection);
    }
  } finally {
    await db.client.releaseConnection(connection);
  }
}

/** Advisory lock keys: arbitrary, fixed, and distinct (PostgreSQL shares them database-wide). */
export const ADVISORY_LOCKS = {
  migrations: 7_000_001,
} as const;
export type AdvisoryLockKey = (typeof ADVISORY_LOCKS)[keyof typeof ADVISORY_LOCKS];
