import type Koa from 'koa';
import type { Context as OpenApiContext } from 'openapi-backend';
import type { operations } from '../generated/api.js';
import type { Config } from '../config.js';
import type { BackgroundWork } from '../domain/backgroundWork.js';
import type { BuildSignals } from '../domain/buildSignals.js';
import type { ShutdownHooks } from '../domain/shutdownHooks.js';
import type { Clock } from '../domain/clock.js';
import type { ClaimLine } from '../domain/claimLine.js';
import type { RunnerQueues } from '../domain/longPolls.js';
import type { RunnerContacts } from '../domain/runnerContact.js';
import type { InstanceTokens } from '../domain/instanceTokens.js';
import type { Db } from '../store/db.js';
import type { Notifications } from '../store/notifications.js';
import type { Logger } from '../observability/logger.js';
import type { CoordinatorMetrics } from '../observability/metrics.js';

/** What every handler may use: injected once when the app is built. */
export interface AppDeps {
  db: Db;
  config: Config;
  tokens: InstanceTokens;
  clock: Clock;
  /** A line of text for the log (errors start with `error`); see logger for structured lines. */
  log: (line: string) => void;
  logger: Logger;
  metrics: CoordinatorMetrics;
  /** Tasks a handler starts without waiting; the server waits for them on close. */
  background: BackgroundWork;
  /** Say here when a build changed, so live traces in this process show it at once. */
  buildSignals: BuildSignals;
  /** The runners polling this process: their authentication, queue versions and held requests. */
  runnerQueues: RunnerQueues;
  /** Build requests' runner contacts, written in batches (group commit). */
  runnerContacts: RunnerContacts;
  /** Build requests take their turn at the queue here, in arrival order. */
  claimLine: ClaimLine;
  /** Issue 9: register here what must end when a graceful shutdown begins (long answers). */
  shutdown: ShutdownHooks;
  /** Messages to every server process on the database (PostgreSQL LISTEN/NOTIFY; this process only on SQLite). */
  notifications: Notifications;
}

export type OperationId = keyof operations;

export type Handler = (c: OpenApiContext, ctx: Koa.Context) => Promise<void>;

/** Handlers keyed by the operationIds of openapi.yaml. */
export type OperationHandlers = Partial<Record<OperationId, Handler>>;

/**
 * The JSON request body of an operation, as generated from openapi.yaml. For the runner
 * endpoints it is their parameters, from whichever of body and query string carried them
 * (see src/http/requestReading.ts).
 */
export type JsonBody<Op extends OperationId> =
  NonNullable<operations[Op]['requestBody']> extends { content: { 'application/json': infer Body } } ? Body : never;

/** The JSON body an operation answers with for `Status`, as generated from openapi.yaml. */
export type JsonReply<Op extends OperationId, Status extends number> = operations[Op] extends {
  responses: { [S in Status]: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

/** Path parameters, already coerced to numbers by openapi-backend. */
export function pathInteger(c: OpenApiContext, name: string): number {
  return Number(c.request.params[name]);
}
