import type { components } from '../../src/generated/api.js';

type Schemas = components['schemas'];

export interface ApiReply<T> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** A small client for the /api/v4 user API, authenticated with the admin token. */
export class UserApi {
  constructor(
    readonly baseUrl: string,
    readonly adminToken: string,
  ) {}

  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiReply<T>> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        'PRIVATE-TOKEN': this.adminToken,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    if ((response.headers.get('content-type') ?? '').startsWith('application/json') && text) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as T, text };
  }

  async createProject(fields: Partial<Schemas['NewProject']> = {}): Promise<Schemas['Project']> {
    const reply = await this.request<Schemas['Project']>('POST', '/api/v4/projects', {
      name: 'project',
      repo_url: 'https://git.example.com/group/project.git',
      ...fields,
    });
    if (reply.status !== 201) throw new Error(`createProject: ${reply.status} ${reply.text}`);
    return reply.body;
  }

  async createPipeline(projectId: number, fields: Partial<Schemas['NewPipeline']> & { ci_config: string }): Promise<Schemas['Pipeline']> {
    const reply = await this.request<Schemas['Pipeline']>('POST', `/api/v4/projects/${projectId}/pipeline`, {
      ref: 'master',
      sha: '97de212e80737a608d939f648d959671fb0a0142',
      ...fields,
    });
    if (reply.status !== 201) throw new Error(`createPipeline: ${reply.status} ${reply.text}`);
    return reply.body;
  }

  async getPipeline(projectId: number, pipelineId: number): Promise<Schemas['Pipeline']> {
    const reply = await this.request<Schemas['Pipeline']>('GET', `/api/v4/projects/${projectId}/pipelines/${pipelineId}`);
    if (reply.status !== 200) throw new Error(`getPipeline: ${reply.status} ${reply.text}`);
    return reply.body;
  }

  async listJobs(projectId: number, pipelineId: number): Promise<Schemas['Job'][]> {
    const reply = await this.request<Schemas['Job'][]>('GET', `/api/v4/projects/${projectId}/pipelines/${pipelineId}/jobs`);
    if (reply.status !== 200) throw new Error(`listJobs: ${reply.status} ${reply.text}`);
    return reply.body;
  }
}
