import type { Config } from '../config.js';
import type { Db } from '../store/db.js';
import { keepSettingOnce, readSetting } from '../store/settings.js';
import { newToken } from './tokens.js';

export interface InstanceTokens {
  registrationToken: string;
  adminToken: string;
}

/**
 * The registration and admin tokens come from the environment when set. Otherwise
 * they are generated once, kept in the database, and reported back so that the
 * start-up log can print them the first time only.
 */
export async function resolveInstanceTokens(
  db: Db,
  config: Pick<Config, 'registrationToken' | 'adminToken'>,
): Promise<{ tokens: InstanceTokens; generated: Partial<InstanceTokens> }> {
  const generated: Partial<InstanceTokens> = {};
  const resolve = async (configured: string | undefined, key: string, name: keyof InstanceTokens) => {
    if (configured) return configured;
    const existing = await readSetting(db, key);
    if (existing) return existing;
    const kept = await keepSettingOnce(db, key, newToken());
    generated[name] = kept;
    return kept;
  };
  const tokens = {
    registrationToken: await resolve(config.registrationToken, 'registration_token', 'registrationToken'),
    adminToken: await resolve(config.adminToken, 'admin_token', 'adminToken'),
  };
  return { tokens, generated };
}
