import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db } from './db.js';
import { migrationSource } from './migrations.js';

/** One trivial query: the database answers. */
export async function pingDatabase(db: Db): Promise<void> {
  await db.raw('select 1');
}

/** Migrations this server knows that the database has not applied. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource })) as [unknown[], unknown[]];
  return pending.map((migration) => (typeof migration === 'string' ? migration : String((migration as { file?: string }).file ?? migration)));
}

/** Creates, writes and removes a small file in `dataDir`: the data directory takes writes. */
export async function probeDataDir(dataDir: string): Promise<void> {
  const probe = path.join(dataDir, `.readiness-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.writeFile(probe, 'ok', { flag: 'wx' });
  } finally {
    await fs.rm(probe, { force: true });
  }
}
