import http from 'node:http';
import type { components } from '../../src/generated/api.js';
import type { Db } from '../../src/store/db.js';
import { startTestCoordinator, type TestCoordinator } from './coordinator.js';
import { UserApi } from './userApi.js';

type Schemas = components['schemas'];
export type BuildDetails = Schemas['BuildDetails'];
export type RegisteredRunner = Schemas['RegisteredRunner'];

/** The User-Agents of GitLab's "no builds available" shared example (gitlab-ci-api-v1.md §8.0). */
export const RUNNER_UA = 'gitlab-ci-multi-runner 1.5.2 (1-5-stable; go1.6.3; linux/amd64)';
export const BETA_RUNNER_UA = 'gitlab-ci-multi-runner 1.6.0~beta.167.g2b2bacc (1-5-stable; go1.6.3; linux/amd64)';
export const GO_UA = 'Go-http-client/1.1';

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body's bytes. */
  body: Buffer;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  json: unknown;
}

/** A whole reply, its body parsed when it is JSON. */
export function collectReply(response: http.IncomingMessage): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', reject);
    response.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const isJson = response.headers['content-type'] === 'application/json' && text !== '';
      resolve({ status: response.statusCode ?? 0, headers: response.headers, text, body, json: isJson ? JSON.parse(text) : undefined });
    });
  });
}

/**
 * A bare HTTP client for /ci/api/v1 on node:http, so that a test decides every header:
 * fetch would add a User-Agent of its own, and 204 vs 404 depends on it.
 */
export class RunnerApi {
  constructor(readonly baseUrl: string) {}

  /** `body` is sent as JSON, except a string, which is sent as it is (for garbled bodies). */
  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawReply> {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    return this.send(method, path, payload, { ...(payload ? { 'Content-Type': 'application/json' } : {}), ...headers });
  }

  /** Exactly these bytes with exactly these headers (and the Content-Length of a body). */
  send(method: string, path: string, payload: Buffer | undefined, headers: Record<string, string> = {}): Promise<RawReply> {
    return this.exchange(method, path, payload, headers).reply;
  }

  /** The request itself too, so that a test can hang up on it (`agent: false`: its own connection). */
  private exchange(method: string, path: string, payload: Buffer | undefined, headers: Record<string, string>, agent?: false) {
    const url = new URL(path, this.baseUrl);
    let request!: http.ClientRequest;
    const reply = new Promise<RawReply>((resolve, reject) => {
      request = http.request(
        url,
        {
          method,
          agent,
          headers: { ...(payload ? { 'Content-Length': String(payload.length) } : {}), ...headers },
        },
        (response) => collectReply(response).then(resolve, reject),
      );
      request.on('error', reject);
      request.end(payload);
    });
    return { reply, request };
  }

  async registerRunner(fields: Record<string, unknown>): Promise<RegisteredRunner> {
    const reply = await this.request('POST', '/ci/api/v1/runners/register.json', fields, { 'User-Agent': RUNNER_UA });
    if (reply.status !== 201) throw new Error(`registerRunner: ${reply.status} ${reply.text}`);
    return reply.json as RegisteredRunner;
  }

  /** POST builds/register.json as a runner does, with the runner's User-Agent unless told otherwise. */
  requestBuild(token: string, options: { userAgent?: string | null; info?: Record<string, unknown>; path?: string } = {}): Promise<RawReply> {
    const userAgent = options.userAgent === undefined ? RUNNER_UA : options.userAgent;
    return this.request(
      'POST',
      options.path ?? '/ci/api/v1/builds/register.json',
      { token, ...(options.info ? { info: options.info } : {}) },
      userAgent === null ? {} : { 'User-Agent': userAgent },
    );
  }

  /** A build for this runner, which must get one. */
  async takeBuild(token: string): Promise<BuildDetails> {
    const reply = await this.requestBuild(token);
    if (reply.status !== 201) throw new Error(`takeBuild: ${reply.status} ${reply.text}`);
    return reply.json as BuildDetails;
  }

  updateBuild(id: number | string, body: Record<string, unknown>, path = `/ci/api/v1/builds/${id}.json`): Promise<RawReply> {
    return this.request('PUT', path, body, { 'User-Agent': RUNNER_UA });
  }

  /**
   * A build request the test can hang up on (long polling): `abandon()` closes its
   * connection before the answer; `reply` then rejects.
   */
  heldBuildRequest(token: string, extra: Record<string, unknown> = {}): { reply: Promise<RawReply>; abandon(): void } {
    const payload = Buffer.from(JSON.stringify({ token, ...extra }));
    const headers = { 'Content-Type': 'application/json', 'User-Agent': RUNNER_UA };
    const { reply, request } = this.exchange('POST', '/ci/api/v1/builds/register.json', payload, headers, false);
    return { reply, abandon: () => request.destroy() };
  }

}

/** The trace as stored: its chunks in order (black-box tests only read the database). */
export async function storedTrace(db: Db, buildId: number): Promise<string> {
  const rows: { data: Uint8Array }[] = await db('trace_chunks').where({ build_id: buildId }).orderBy('id').select('data');
  return Buffer.concat(rows.map((row) => Buffer.from(row.data))).toString('utf8');
}

/**
 * A job of GitLab's build factory (gitlab-ci-api-v1.md §8.0) as `.gitlab-ci.yml`: image
 * ruby:2.1, service postgres, commands `ls -a`; `extra` lines go inside the job.
 */
export function factoryJob(name: string, extra: string[] = []): string {
  return [`${name}:`, '  image: ruby:2.1', '  services: [postgres]', '  script: ls -a', ...extra.map((line) => `  ${line}`)].join('\n') + '\n';
}

/** The factory's pipeline: YAML variable DB_NAME=postgres and the pending build `spinach` of stage test. */
export const FACTORY_CONFIG = `variables:\n  DB_NAME: postgres\n${factoryJob('spinach')}`;
export const PIPELINE_SHA = '97de212e80737a608d939f648d959671fb0a0142';

/** A fresh coordinator with a user API client (for seeding) and a runner API client. */
export interface World {
  coordinator: TestCoordinator;
  api: UserApi;
  runners: RunnerApi;
}

export async function startWorld(): Promise<World> {
  const coordinator = await startTestCoordinator();
  return { coordinator, api: new UserApi(coordinator.url, coordinator.adminToken), runners: new RunnerApi(coordinator.url) };
}
