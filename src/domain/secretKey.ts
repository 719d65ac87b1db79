import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config.js';

export class SecretKeyError extends ConfigError {}

const KEY_BYTES = 32;

/**
 * The server secret of CI_SECRET_KEY_FILE: 32 random bytes as 64 hex characters. Generated
 * on first start with mode 0600, written whole to a temporary file and then linked into
 * place, so that two processes starting at once agree on one key and none reads half a
 * file. Every process sharing a database must be given the same file.
 */
export function loadOrCreateSecretKey(file: string): Buffer {
  const existing = readKeyFile(file);
  if (existing) return existing;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const descriptor = fs.openSync(temporary, 'wx', 0o600);
  try {
    fs.writeSync(descriptor, `${randomBytes(KEY_BYTES).toString('hex')}\n`);
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
  try {
    fs.linkSync(temporary, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  const key = readKeyFile(file);
  if (!key) throw new SecretKeyError(`CI_SECRET_KEY_FILE ${file} vanished while it was created`);
  return key;
}

function readKeyFile(file: string): Buffer | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SecretKeyError(`CI_SECRET_KEY_FILE ${file} cannot be read: ${(err as Error).message}`);
  }
  if (!/^[0-9a-f]{64,}$/i.test(text) || text.length % 2 !== 0) {
    throw new SecretKeyError(`CI_SECRET_KEY_FILE ${file} must hold at least ${KEY_BYTES} bytes as hex characters`);
  }
  return Buffer.from(text, 'hex');
}
