import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

const SEALED_PREFIX = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals the tokens the server must be able to show or hand out again (a build's token,
 * which later builds receive as a dependency token; a project's runners token, which an
 * administrator reads to register runners): AES-256-GCM under a key derived from the
 * server secret (CI_SECRET_KEY_FILE), which never enters the database. A dump of the
 * database alone opens nothing. Sealing (rather than deriving the token from an HMAC of
 * the row) is what lets migration 007 keep every existing token valid.
 */
export class TokenVault {
  private readonly sealingKey: Buffer;
  /** Names the server secret without revealing it, so that a start with another key is refused. */
  readonly keyCheck: string;

  constructor(serverSecret: Buffer) {
    if (serverSecret.length < 32) throw new Error('the server secret must be at least 32 bytes');
    this.sealingKey = Buffer.from(hkdfSync('sha256', serverSecret, Buffer.alloc(0), 'coordinator token sealing v1', 32));
    this.keyCheck = createHmac('sha256', serverSecret).update('coordinator secret key check v1').digest('hex');
  }

  seal(token: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.sealingKey, iv);
    const sealed = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
  }

  open(sealed: string): string {
    if (!sealed.startsWith(SEALED_PREFIX)) throw new Error('not a sealed token');
    const bytes = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.sealingKey, bytes.subarray(0, IV_BYTES));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}

// Kept on the knex config object under a symbol: transactions share that object, and the
// copies knex makes of it (the migrator's withUserParams) copy the symbol along.
const VAULT = Symbol('coordinator token vault');

type ConfigWithVault = Knex.Config & { [VAULT]?: TokenVault };

/** Makes `vault` the one that seals and opens tokens for `db` and its transactions. */
export function bindTokenVault(db: Knex, vault: TokenVault): void {
  (db.client.config as ConfigWithVault)[VAULT] = vault;
}

export function tokenVaultOf(db: Knex | Knex.Transaction): TokenVault {
  const vault = (db.client.config as ConfigWithVault)[VAULT];
  if (!vault) throw new Error('no token vault bound to this database (openDatabase binds one)');
  return vault;
}
