import type { Config } from '../config.js';
import type { Db } from '../store/db.js';
import { keepSettingOnce, readSetting } from '../store/settings.js';
import { tokenDigest } from '../store/tokenDigests.js';
import { newToken } from './tokens.js';

/** The instance's registration and admin tokens, known by their SHA-256 digests only. */
export interface InstanceTokens {
  registrationTokenDigest: string;
  adminTokenDigest: string;
  /**
   * The plain tokens this process knows, configured or generated on this start, which the
   * trace masker masks wherever they occur (after a restart a generated one is found by its
   * digest only).
   */
  plainTokens: string[];
}

/** Tokens generated on this start, in plain text: printed once, never stored. */
export interface GeneratedTokens {
  registrationToken?: string;
  adminToken?: string;
}

/**
 * The registration and admin tokens come from the environment when set. Otherwise they
 * are generated once and only their digests are kept in the database (a dump of it must
 * not register runners or open the user API); the plain tokens are reported back so that
 * the start-up log can print them, the first time only.
 */
export async function resolveInstanceTokens(
  db: Db,
  config: Pick<Config, 'registrationToken' | 'adminToken'>,
): Promise<{ tokens: InstanceTokens; generated: GeneratedTokens }> {
  const generated: GeneratedTokens = {};
  const resolve = async (configured: string | undefined, key: string, name: keyof GeneratedTokens) => {
    if (configured) return tokenDigest(configured);
    const existing = await readSetting(db, key);
    if (existing) return existing;
    const token = newToken();
    // Another process starting at the same moment may win; then its token is the one.
    const kept = await keepSettingOnce(db, key, tokenDigest(token));
    if (kept === tokenDigest(token)) generated[name] = token;
    return kept;
  };
  const registrationTokenDigest = await resolve(config.registrationToken, 'registration_token_digest', 'registrationToken');
  const adminTokenDigest = await resolve(config.adminToken, 'admin_token_digest', 'adminToken');
  const plainTokens = [config.registrationToken || generated.registrationToken, config.adminToken || generated.adminToken].filter((token): token is string => !!token);
  const tokens = { registrationTokenDigest, adminTokenDigest, plainTokens };
  return { tokens, generated };
}
