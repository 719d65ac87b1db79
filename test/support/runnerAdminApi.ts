// The runner administration endpoints of the user API, for tests that pause, retag, assign or
// inspect runners the way an administrator does.
import type { components } from '../../src/generated/api.js';
import type { ApiReply, UserApi } from './userApi.js';

type Schemas = components['schemas'];

export class RunnerAdminApi {
  constructor(readonly api: UserApi) {}

  list(query = ''): Promise<ApiReply<Schemas['Runner'][]>> {
    return this.api.request('GET', `/api/v4/runners/all${query}`);
  }

  get(runnerId: number): Promise<ApiReply<Schemas['RunnerDetails']>> {
    return this.api.request('GET', `/api/v4/runners/${runnerId}`);
  }

  /** The runner's details, which must exist. */
  async details(runnerId: number): Promise<Schemas['RunnerDetails']> {
    const reply = await this.get(runnerId);
    if (reply.status !== 200) throw new Error(`getRunner ${runnerId}: ${reply.status} ${reply.text}`);
    return reply.body;
  }

  update(runnerId: number, fields: Record<string, unknown>): Promise<ApiReply<Schemas['RunnerDetails']>> {
    return this.api.request('PUT', `/api/v4/runners/${runnerId}`, fields);
  }

  /** Updates the runner, which must succeed. */
  async set(runnerId: number, fields: Schemas['RunnerUpdate']): Promise<Schemas['RunnerDetails']> {
    const reply = await this.update(runnerId, fields);
    if (reply.status !== 200) throw new Error(`updateRunner ${runnerId}: ${reply.status} ${reply.text}`);
    return reply.body;
  }

  delete(runnerId: number): Promise<ApiReply<unknown>> {
    return this.api.request('DELETE', `/api/v4/runners/${runnerId}`);
  }

  assign(projectId: number, runnerId: number): Promise<ApiReply<Schemas['Runner']>> {
    return this.api.request('POST', `/api/v4/projects/${projectId}/runners`, { runner_id: runnerId });
  }

  unassign(projectId: number, runnerId: number): Promise<ApiReply<unknown>> {
    return this.api.request('DELETE', `/api/v4/projects/${projectId}/runners/${runnerId}`);
  }
}

/** The named fields of a reply, to compare some of them in one assertion. */
export function pick<T extends object, K extends keyof T>(value: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, value[key]])) as Pick<T, K>;
}
