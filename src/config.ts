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
  /**
   * CI_SECRET_KEY_FILE: the server secret that seals build and runners tokens, kept out of
   * the database (generated on first start, mode 0600). Default: <DATA_DIR>/secret.key.
   */
  secretKeyFile: string;
  maxArtifactsBytes: number;
  /** Limit for JSON, form and trace bodies. */
  maxBodyBytes: number;
  /** How often this process runs housekeeping (expired artifacts, stuck builds); 0 = never. */
  housekeepingIntervalMs: number;
  /** A pending or running build untouched for this long is marked failed (GitLab: one day). */
  stuckBuildTimeoutMs: number;
  /** A read-only token for the user API and the web view: it looks but never acts. */
  viewerToken: string | undefined;
  /** pino's level: fatal, error, warn, info, debug, trace or silent. */
  logLevel: LogLevel;
  /** `json` (one JSON object a line, the default) or `pretty` (pino-pretty, for development). */
  logFormat: 'json' | 'pretty';
  /** Set: /metrics is served on this port only (0 picks a free one), not on PORT. */
  metricsPort: number | undefined;
  // ---- Issue 9: limits and shutdown (see src/http/serverLimits.ts) ----
  /** A request's headers must have arrived within this. */
  headersTimeoutMs: number;
  /** A request's headers and body must have arrived within this (not its answer: long polls are held longer). */
  requestTimeoutMs: number;
  /** SIGTERM: requests in flight get this long to finish before the process exits anyway. */
  shutdownTimeoutMs: number;
  /** CI_LONG_POLL_SECONDS: how long a build request with nothing for it is held open (0 = answer at once). */
  longPollMs: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MIB = 1024 * 1024;
const SECOND_MS = 1000;
const HOUR_MS = 60 * 60 * SECOND_MS;
// Upper bounds keep timer delays (at most 2^31 - 1 ms) and date arithmetic meaningful.
const ONE_DAY_SECONDS = 24 * 60 * 60;
const ONE_YEAR_HOURS = 365 * 24;
const MAX_LONG_POLL_SECONDS = 600;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.DATA_DIR || './data');
  return {
    host: env.HOST || '127.0.0.1',
    port: integerFrom(env, 'PORT', 8080, 0, 65535),
    dataDir,
    databaseUrl: env.DATABASE_URL || `sqlite:${path.join(dataDir, 'coordinator.sqlite3')}`,
    registrationToken: env.CI_REGISTRATION_TOKEN || undefined,
    adminToken: env.CI_ADMIN_TOKEN || undefined,
    secretKeyFile: path.resolve(env.CI_SECRET_KEY_FILE || path.join(dataDir, 'secret.key')),
    maxArtifactsBytes: integerFrom(env, 'MAX_ARTIFACTS_SIZE_MB', 100, 0) * MIB,
    maxBodyBytes: integerFrom(env, 'MAX_BODY_SIZE_MB', 16, 1) * MIB,
    housekeepingIntervalMs: integerFrom(env, 'HOUSEKEEPING_INTERVAL_SECONDS', 300, 0, ONE_DAY_SECONDS) * SECOND_MS,
    stuckBuildTimeoutMs: integerFrom(env, 'STUCK_BUILD_TIMEOUT_HOURS', 24, 1, ONE_YEAR_HOURS) * HOUR_MS,
    viewerToken: viewerTokenFrom(env),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    logFormat: oneOf(env, 'LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
    // GitLab Workhorse held runner requests up to 50 s; 20 s answers well within any proxy's idle timeout.
    longPollMs: integerFrom(env, 'CI_LONG_POLL_SECONDS', 20, 0, MAX_LONG_POLL_SECONDS) * SECOND_MS,
    metricsPort: env.METRICS_PORT === undefined || env.METRICS_PORT === '' ? undefined : integerFrom(env, 'METRICS_PORT', 0, 0, 65535),
    ...timeoutsFrom(env),
  };
}

function timeoutsFrom(env: NodeJS.ProcessEnv): Pick<Config, 'headersTimeoutMs' | 'requestTimeoutMs' | 'shutdownTimeoutMs'> {
  const requestTimeoutMs = integerFrom(env, 'REQUEST_TIMEOUT_SECONDS', 900, 1, ONE_DAY_SECONDS) * SECOND_MS;
  const headersTimeoutMs = integerFrom(env, 'HEADERS_TIMEOUT_SECONDS', 30, 1, ONE_DAY_SECONDS) * SECOND_MS;
  // Node refuses a header timeout longer than the request's, which includes the headers.
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('HEADERS_TIMEOUT_SECONDS must not exceed REQUEST_TIMEOUT_SECONDS');
  return { requestTimeoutMs, headersTimeoutMs, shutdownTimeoutMs: integerFrom(env, 'SHUTDOWN_TIMEOUT_SECONDS', 30, 0, ONE_DAY_SECONDS) * SECOND_MS };
}

function viewerTokenFrom(env: NodeJS.ProcessEnv): string | undefined {
  const token = env.CI_VIEWER_TOKEN || undefined;
  // The same value for both would make every viewer an administrator.
  if (token !== undefined && token === env.CI_ADMIN_TOKEN) throw new ConfigError('CI_VIEWER_TOKEN must differ from CI_ADMIN_TOKEN');
  if (token !== undefined && token.length < 16) throw new ConfigError('CI_VIEWER_TOKEN must be at least 16 characters long');
  return token;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

function integerFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(`${name} must be an integer ${range}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
