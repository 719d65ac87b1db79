/**
 * Which store the tests run on, picked from the environment: TEST_DATABASE_URL set (make test's
 * second run, or an existing server) means PostgreSQL, otherwise SQLite. Every coordinator a test
 * starts gets a database of its own either way: a fresh SQLite file in its data directory, or a
 * fresh PostgreSQL database on that server, dropped again when the coordinator stops.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';

/** The server the PostgreSQL run uses (a throwaway cluster, see test/postgres/run.sh), if this is that run. */
export function testServerUrl(): string | undefined {
  return process.env.TEST_DATABASE_URL || undefined;
}

export function isPostgresRun(): boolean {
  return testServerUrl() !== undefined;
}

/** For `test(name, { skip: onlyOnSqlite('why') }, ...)`: the reason on the PostgreSQL run, false on SQLite. */
export function onlyOnSqlite(reason: string): string | false {
  return isPostgresRun() ? `SQLite only: ${reason}` : false;
}

/** For tests of what only PostgreSQL has (LISTEN/NOTIFY, SKIP LOCKED, a second process's connection). */
export function onlyOnPostgres(reason: string): string | false {
  return isPostgresRun() ? false : `PostgreSQL only (set TEST_DATABASE_URL, or run make test): ${reason}`;
}

export interface TestDatabase {
  /** A DATABASE_URL for the server (sqlite:<file> or postgres://...). */
  url: string;
  /** Drops the PostgreSQL database (closing whatever still uses it); nothing for SQLite, whose file goes with its directory. */
  drop(): Promise<void>;
}

/** A fresh, empty database: on SQLite a file in `dataDir` (which the caller removes), on PostgreSQL a new database. */
export async function createTestDatabase(dataDir: string): Promise<TestDatabase> {
  const server = testServerUrl();
  if (!server) return { url: `sqlite:${path.join(dataDir, 'coordinator.sqlite3')}`, drop: async () => {} };
  const name = `coordinator_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onServer(server, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => onServer(server, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

async function onServer<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
