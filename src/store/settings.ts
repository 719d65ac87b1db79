import type { Db } from './db.js';

export async function readSetting(db: Db, key: string): Promise<string | undefined> {
  const row = await db('settings').where({ key }).first('value');
  return row?.value as string | undefined;
}

/** Stores `value` unless the key already has one, and returns whichever value won. */
export async function keepSettingOnce(db: Db, key: string, value: string): Promise<string> {
  await db('settings').insert({ key, value }).onConflict('key').ignore();
  const stored = await readSetting(db, key);
  if (stored === undefined) throw new Error(`setting ${key} vanished`);
  return stored;
}
