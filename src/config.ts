import path from 'node:path';

/** Everything the server reads from its environment, validated once at start-up. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** A knex connection: `sqlite:<file>` or a `postgres://` URL. */
  databaseUrl: string;
  /** Unset means: generate one on first start and keep it in the database. */
  registrationToken: string | undefined;
  adminToken: string | undefined;
  maxArtifactsBytes: number;
  /** Limit for JSON, form and trace bodies. */
  maxBodyBytes: number;
}

const MIB = 1024 * 1024;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.DATA_DIR || './data');
  return {
    host: env.HOST || '127.0.0.1',
    port: integerFrom(env, 'PORT', 8080, 0),
    dataDir,
    databaseUrl: env.DATABASE_URL || `sqlite:${path.join(dataDir, 'coordinator.sqlite3')}`,
    registrationToken: env.CI_REGISTRATION_TOKEN || undefined,
    adminToken: env.CI_ADMIN_TOKEN || undefined,
    maxArtifactsBytes: integerFrom(env, 'MAX_ARTIFACTS_SIZE_MB', 100, 0) * MIB,
    maxBodyBytes: integerFrom(env, 'MAX_BODY_SIZE_MB', 16, 1) * MIB,
  };
}

function integerFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
