import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { components } from '../generated/api.js';

type BuildStatus = components['schemas']['BuildStatus'];

/** What a runner's "anything for me?" came to (GitLab's builds/register and, in v4, jobs/request). */
export type BuildRequestOutcome = 'build' | 'none' | 'forbidden' | 'paused';
/** Which runner API the request came through. */
export type RunnerApi = 'v1' | 'v4';

/** Read from the database when /metrics is scraped: the same figures in every process. */
export interface DatabaseFigures {
  buildsByStatus: Partial<Record<BuildStatus, number>>;
  /** Pending builds no runner holds, of live projects. */
  queueDepth: number;
  /** Runners that contacted us within the last hour (GitLab's "online"). */
  onlineRunners: number;
}

const BUILD_STATUSES: BuildStatus[] = ['created', 'pending', 'running', 'canceling', 'success', 'failed', 'canceled', 'skipped'];

/**
 * This process's Prometheus metrics (prom-client), one registry per app so that two
 * coordinators in one process (the tests) never share a counter. Counters and histograms
 * count what this process did: with several processes, each exports its own and
 * Prometheus sums them (`sum by (...)`). The database figures are the same in every process:
 * aggregate those with `max`, not `sum`.
 *
 * Handlers report through the small methods below; a module that arrives later (long
 * polling, the v4 job request) reports through the same ones.
 */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'status'>;
  private readonly requestDuration: Histogram<'operation'>;
  private readonly buildRequests: Counter<'api' | 'outcome'>;
  private readonly claimDuration: Histogram<'api'>;
  private readonly pickupLatency: Histogram<'api'>;
  private readonly traceBytes: Counter;
  private readonly artifactBytesStored: Counter;
  private readonly artifactBytesServed: Counter;
  private readonly waitingLongPolls: Gauge<'api'>;

  constructor(readDatabaseFigures: () => Promise<DatabaseFigures>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'coordinator_' });
    this.requests = new Counter({
      name: 'coordinator_http_requests_total',
      help: 'HTTP requests answered, by operationId of openapi.yaml (unknown: no route) and status.',
      labelNames: ['operation', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'coordinator_http_request_duration_seconds',
      help: 'Time from a request to the end of its answer, by operationId (a held long poll or a trace stream counts whole).',
      labelNames: ['operation'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.buildRequests = new Counter({
      name: 'coordinator_build_requests_total',
      help: 'Runner requests for a build (v1 builds/register, v4 jobs/request) by outcome: build, none, forbidden (bad token), paused.',
      labelNames: ['api', 'outcome'],
      registers,
    });
    this.claimDuration = new Histogram({
      name: 'coordinator_build_claim_duration_seconds',
      help: 'Time a build request spent finding and claiming the build it was given (queue scan plus the claim).',
      labelNames: ['api'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.pickupLatency = new Histogram({
      name: 'coordinator_build_pickup_latency_seconds',
      help: 'Time from a build becoming pending (queued_at) to a runner claiming it.',
      labelNames: ['api'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    this.traceBytes = new Counter({ name: 'coordinator_trace_bytes_appended_total', help: 'Trace bytes runners appended (after masking).', registers });
    this.artifactBytesStored = new Counter({ name: 'coordinator_artifact_bytes_stored_total', help: 'Bytes of artifacts archives stored.', registers });
    this.artifactBytesServed = new Counter({ name: 'coordinator_artifact_bytes_served_total', help: 'Bytes of artifacts archives sent to runners and users.', registers });
    this.waitingLongPolls = new Gauge({
      name: 'coordinator_long_polls_waiting',
      help: 'Build requests held open right now, waiting for a build (long polling).',
      labelNames: ['api'],
      registers,
    });
    for (const api of ['v1', 'v4'] as const) this.waitingLongPolls.set({ api }, 0);

    // One read of the database per scrape serves the three gauges below.
    let pending: Promise<DatabaseFigures> | undefined;
    const figures = (): Promise<DatabaseFigures> => {
      pending ??= readDatabaseFigures().finally(() => setImmediate(() => (pending = undefined)));
      return pending;
    };
    new Gauge({
      name: 'coordinator_builds',
      help: 'Builds by status, in the whole database.',
      labelNames: ['status'],
      registers,
      async collect() {
        const { buildsByStatus } = await figures();
        for (const status of BUILD_STATUSES) this.set({ status }, buildsByStatus[status] ?? 0);
      },
    });
    new Gauge({
      name: 'coordinator_queue_depth',
      help: 'Pending builds that no runner holds yet, in the whole database.',
      registers,
      async collect() {
        this.set((await figures()).queueDepth);
      },
    });
    new Gauge({
      name: 'coordinator_runners_online',
      help: 'Runners that contacted the coordinator within the last hour.',
      registers,
      async collect() {
        this.set((await figures()).onlineRunners);
      },
    });
  }

  requestFinished(operation: string, status: number, seconds: number): void {
    this.requests.inc({ operation, status: String(status) });
    this.requestDuration.observe({ operation }, seconds);
  }

  buildRequest(api: RunnerApi, outcome: BuildRequestOutcome): void {
    this.buildRequests.inc({ api, outcome });
  }

  /** A build handed to a runner: how long the claim took, and how long the build had waited. */
  buildClaimed(api: RunnerApi, claimSeconds: number, queuedAt: string | null, now: Date): void {
    this.claimDuration.observe({ api }, claimSeconds);
    if (queuedAt !== null) this.pickupLatency.observe({ api }, Math.max(0, (now.getTime() - Date.parse(queuedAt)) / 1000));
  }

  traceAppended(bytes: number): void {
    if (bytes > 0) this.traceBytes.inc(bytes);
  }

  artifactsStored(bytes: number): void {
    this.artifactBytesStored.inc(bytes);
  }

  artifactsServed(bytes: number): void {
    if (bytes > 0) this.artifactBytesServed.inc(bytes);
  }

  /** A long poll begins to wait; call what it returns when it stops waiting (once). */
  longPollWaiting(api: RunnerApi): () => void {
    this.waitingLongPolls.inc({ api });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.waitingLongPolls.dec({ api });
    };
  }

  /** The text exposition format, as Prometheus scrapes it. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
