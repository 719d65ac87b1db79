import type { components } from '../../src/generated/api.js';
import { RunnerApi, type RawReply } from './runnerApi.js';

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
