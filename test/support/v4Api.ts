// Raw calls of runner API v4 (/api/v4/jobs/...) for request-spec style tests: every header and
// body as the test says, nothing added. The protocol-faithful client is runnerV4Simulator.ts.
import { crc32 } from 'node:zlib';
import type { components } from '../../src/generated/api.js';
import { RunnerApi, type RawReply } from './runnerApi.js';

export type JobPayload = components['schemas']['JobPayload'];

export const V4_RUNNER_UA = 'gitlab-runner 17.11.0 (17-11-stable; go1.23.6; linux/amd64)';

/** What gitlab-runner 17.11's network client says it can do (docker executor, bash). */
export const V4_FEATURES = {
  variables: true, image: true, services: true, artifacts: true, cache: true, shared: false,
  upload_multiple_artifacts: true, upload_raw_artifacts: true, session: true, terminal: true, refspecs: true,
  masking: true, proxy: false, raw_variables: true, artifacts_exclude: true, multi_build_steps: true,
  trace_reset: true, trace_checksum: true, trace_size: true, vault_secrets: true, cancelable: true,
  return_exit_code: true, service_variables: true, service_multiple_aliases: true, image_executor_opts: true,
  service_executor_opts: true, cancel_gracefully: true, native_steps_integration: false,
};

export function v4Info(features: Record<string, boolean> = V4_FEATURES): Record<string, unknown> {
  return {
    name: 'gitlab-runner', version: '17.11.0', revision: '0f67ff19', platform: 'linux', architecture: 'amd64',
    executor: 'docker', shell: 'bash', features, config: { gpus: '' },
  };
}

/** `crc32:%08x` of the bytes, as the runner reports its log in `output.checksum`. */
export function logChecksum(bytes: Buffer | string): string {
  return `crc32:${crc32(typeof bytes === 'string' ? Buffer.from(bytes) : bytes).toString(16).padStart(8, '0')}`;
}

export class V4Api {
  readonly raw: RunnerApi;
  constructor(readonly baseUrl: string) {
    this.raw = new RunnerApi(baseUrl);
  }

  requestJob(token: string, extra: Record<string, unknown> = {}): Promise<RawReply> {
    return this.raw.request('POST', '/api/v4/jobs/request', { token, info: v4Info(), ...extra }, { 'User-Agent': V4_RUNNER_UA, Accept: 'application/json' });
  }

  /** A job for this runner, which must get one. */
  async takeJob(token: string, extra: Record<string, unknown> = {}): Promise<JobPayload> {
    const reply = await this.requestJob(token, extra);
    if (reply.status !== 201) throw new Error(`takeJob: ${reply.status} ${reply.text}`);
    return reply.json as JobPayload;
  }

  updateJob(id: number | string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<RawReply> {
    return this.raw.request('PUT', `/api/v4/jobs/${id}`, { info: v4Info(), ...body }, { 'User-Agent': V4_RUNNER_UA, ...headers });
  }

  /** PATCH of `chunk` at `start` with the runner's inclusive Content-Range, unless `contentRange` says otherwise (null: none). */
  patchTrace(id: number | string, token: string | undefined, start: number, chunk: Buffer | string, contentRange?: string | null): Promise<RawReply> {
    const body = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const headers: Record<string, string> = { 'User-Agent': V4_RUNNER_UA, 'Content-Type': 'text/plain' };
    if (token !== undefined) headers['JOB-TOKEN'] = token;
    const range = contentRange === undefined ? `${start}-${start + body.length - 1}` : contentRange;
    if (range !== null) headers['Content-Range'] = range;
    return this.raw.send('PATCH', `/api/v4/jobs/${id}/trace?debug_trace=false`, body, headers);
  }
}
