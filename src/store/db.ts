import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { keepSettingOnce } from './settings.js';
import { bindTokenVault, type TokenVault } from './tokenVault.js';
import pg from 'pg';
import { migrateToLatest } from './schema.js';
import { truncateWriteAheadLog } from './dialect.js';

export type Db = Knex;
export { isPostgres } from './dialect.js';

/** The server secret is not the one this database's tokens were sealed with. */
export class SecretKeyMismatch extends Error {}

/**
 * Opens the database named by `DATABASE_URL`, with `vault` sealing and opening its tokens,
 * and brings its schema up to date.
 */
export async function openDatabase(databaseUrl: string, vault: TokenVault): Promise<Db> {
  // A failed query's error names its SQL with `?` in place of the values, which are tokens
  // often enough (knex would write them in, and the error ends up in the log).
  const db = knexFactory({ ...knexConfigFor(databaseUrl), compileSqlOnError: false });
  bindTokenVault(db, vault);
  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  // Two servers on one database with different secrets would each fail to open the other's
  // tokens; refuse to start instead. The first start records which key the tokens use.
  if ((await keepSettingOnce(db, 'secret_key_check', vault.keyCheck)) !== vault.keyCheck) {
    await db.destroy();
    throw new SecretKeyMismatch('CI_SECRET_KEY_FILE holds another key than the one this database was started with; give every server the same file');
  }
  // A migration that replaced secrets (007) leaves their old pages in the WAL until a
  // checkpoint: fold the WAL into the file and empty it now, at start-up, when it is cheap.
  await truncateWriteAheadLog(db);
  return db;
}

/**
 * How long a request waits for PostgreSQL before it gets a 503: for a connection from the
 * pool, and for a new connection to be made. Knex's default (60 s) would hold every request
 * for a minute while the database is away.
 */
const ACQUIRE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * bigint (counts, byte lengths) and numeric (sums) as numbers, as SQLite answers them, instead of
 * pg's strings: every value we store in them is far below 2^53.
 */
const POSTGRES_TYPES = {
  getTypeParser: (oid: number, format: string): unknown =>
    oid === INT8_OID || oid === NUMERIC_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'),
};

/** The knex settings of a `DATABASE_URL` (SQLite: one connection, WAL, foreign keys on). */
export function knexConfigFor(databaseUrl: string): Knex.Config {
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    return {
      client: 'pg',
      connection: { connectionString: databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, types: POSTGRES_TYPES },
      acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
      pool: { min: 0, max: 10 },
    };
  }
  const filename = databaseUrl.replace(/^sqlite:(\/\/)?/, '');
  if (filename !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
  return {
    client: 'sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and a single connection makes
    // every transaction in this process strictly one-at-a-time.
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        // WAL lets readers run beside the writer; synchronous=FULL makes a commit durable
        // before we answer (a 202 on a trace append promises that); busy_timeout lets
        // several server processes share one file.
        conn.exec(
          'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;',
          (err) => done(err, conn),
        );
      },
    },
  };
}

interface SqliteConnection {
  exec(sql: string, callback: (err: Error | null) => void): void;
}
