import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { components } from '../../src/generated/api.js';
import { collectReply, RunnerApi, type RawReply } from './runnerApi.js';

export type RunnerAuthentication = components['schemas']['RunnerAuthentication'];

/** What gitlab-runner 17.11 sends as its User-Agent. */
export const RUNNER_V4_UA = 'gitlab-runner 17.11.0 (17-11-stable; go1.23.6; linux/amd64)';

/** `info` as gitlab-runner 17.11 sends it when registering. */
export const RUNNER_V4_INFO = {
  name: 'gitlab-runner',
  version: '17.11.0',
  revision: '0f67ff19',
  platform: 'linux',
  architecture: 'amd64',
  executor: '',
  shell: '',
  features: { variables: true, artifacts: true, cache: true, upload_multiple_artifacts: true },
  config: { gpus: '' },
};

/** The runner API v4's runner endpoints, with the headers gitlab-runner sends. */
export class RunnerV4Api extends RunnerApi {
  call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawReply> {
    return this.request(method, path, body, { 'User-Agent': RUNNER_V4_UA, Accept: 'application/json', ...headers });
  }

  /** `gitlab-runner register --registration-token`: the fields the runner always sends, then `fields`. */
  register(fields: Record<string, unknown>): Promise<RawReply> {
    return this.call('POST', '/api/v4/runners', { run_untagged: true, locked: true, paused: false, info: RUNNER_V4_INFO, ...fields });
  }

  override async registerRunner(fields: Record<string, unknown>): Promise<RunnerAuthentication> {
    const reply = await this.register(fields);
    if (reply.status !== 201) throw new Error(`register (v4): ${reply.status} ${reply.text}`);
    return reply.json as RunnerAuthentication;
  }

  verify(token: string, systemId?: string): Promise<RawReply> {
    return this.call('POST', '/api/v4/runners/verify', { token, ...(systemId === undefined ? {} : { system_id: systemId }) });
  }

  unregister(token: string): Promise<RawReply> {
    return this.call('DELETE', '/api/v4/runners', { token });
  }

  unregisterManager(token: string, systemId: string): Promise<RawReply> {
    return this.call('DELETE', '/api/v4/runners/managers', { token, system_id: systemId });
  }
}

/** What `gitlab-runner artifacts-uploader` sends: its query parameters, each only when set. */
export interface ArtifactsUploadV4 {
  artifactType?: string;
  artifactFormat?: string;
  expireIn?: string;
  /** The part's filename; the runner's default archive is `artifacts.zip`. */
  filename?: string;
  /** Sent as `JOB-TOKEN` unless null. */
  jobToken: string | null;
  /** Extra query parameters (e.g. `token`). */
  query?: Record<string, string>;
}

/**
 * POST /api/v4/jobs/:id/artifacts as the runner's uploader sends it: one multipart part named
 * `file`, chunked (no Content-Length), the parameters in the query, the job token as a header.
 */
export function uploadArtifactsV4(baseUrl: string, jobId: number | string, content: Buffer, options: ArtifactsUploadV4): Promise<RawReply> {
  const query = new URLSearchParams();
  if (options.artifactFormat) query.set('artifact_format', options.artifactFormat);
  if (options.artifactType) query.set('artifact_type', options.artifactType);
  if (options.expireIn) query.set('expire_in', options.expireIn);
  for (const [key, value] of Object.entries(options.query ?? {})) query.set(key, value);
  const boundary = randomBytes(30).toString('hex');
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${options.filename ?? 'artifacts.zip'}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL(`/api/v4/jobs/${jobId}/artifacts?${query}`, baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        headers: {
          'User-Agent': RUNNER_V4_UA,
          'Content-Type': `multipart/form-data; boundary=${boundary}`,
          'Transfer-Encoding': 'chunked',
          ...(options.jobToken === null ? {} : { 'JOB-TOKEN': options.jobToken }),
        },
      },
      (response) => collectReply(response).then(resolve, reject),
    );
    // An early answer (403, 413) may reset the connection while we still write: the answer counts.
    request.on('error', reject);
    request.write(head);
    // In pieces, as a stream: the server must not need the whole body at once.
    for (let offset = 0; offset < content.length; offset += 64 * 1024) request.write(content.subarray(offset, offset + 64 * 1024));
    request.end(tail);
  });
}

/** GET /api/v4/jobs/:id/artifacts as the runner's downloader sends it (`JOB-TOKEN`, `direct_download=true`). */
export function downloadArtifactsV4(api: RunnerApi, jobId: number | string, jobToken: string | null, query = '?direct_download=true'): Promise<RawReply> {
  return api.send('GET', `/api/v4/jobs/${jobId}/artifacts${query}`, undefined, {
    'User-Agent': RUNNER_V4_UA,
    ...(jobToken === null ? {} : { 'JOB-TOKEN': jobToken }),
  });
}
