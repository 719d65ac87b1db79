import type { components } from '../generated/api.js';

export type Schemas = components['schemas'];

/** A refusal from the server: its status and its JSON `message`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

/** Where the CLI talks to and as whom: COORDINATOR_URL and COORDINATOR_TOKEN (or CI_ADMIN_TOKEN). */
export interface Target {
  url: string;
  token: string;
}

export class UsageError extends Error {}

export function targetFromEnv(env: NodeJS.ProcessEnv): Target {
  const url = (env.COORDINATOR_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = env.COORDINATOR_TOKEN || env.CI_ADMIN_TOKEN;
  if (!token) throw new UsageError('set COORDINATOR_TOKEN (or CI_ADMIN_TOKEN) to the admin or viewer token');
  try {
    new URL(url);
  } catch {
    throw new UsageError(`COORDINATOR_URL is not a URL: ${JSON.stringify(url)}`);
  }
  return { url, token };
}

/** The user API, with PRIVATE-TOKEN on every call. */
export class CoordinatorClient {
  constructor(readonly target: Target) {}

  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.target.url}${path}`, {
      method,
      headers: {
        'PRIVATE-TOKEN': this.target.token,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const reply = await this.request(method, path, body);
    const text = await reply.text();
    const parsed: unknown = text && reply.headers.get('content-type') === 'application/json' ? JSON.parse(text) : text;
    if (!reply.ok) throw refusal(reply.status, parsed, text);
    return parsed as T;
  }

  async text(path: string): Promise<string> {
    const reply = await this.request('GET', path);
    const text = await reply.text();
    if (!reply.ok) throw refusal(reply.status, safeJson(text), text);
    return text;
  }

  lint(content: string): Promise<Schemas['LintResult']> {
    return this.json('POST', '/api/v4/ci/lint', { content });
  }

  createPipeline(projectId: number, pipeline: Schemas['NewPipeline']): Promise<Schemas['Pipeline']> {
    return this.json('POST', `/api/v4/projects/${projectId}/pipeline`, pipeline);
  }

  runners(query: URLSearchParams): Promise<Schemas['Runner'][]> {
    return this.json('GET', `/api/v4/runners/all?${query}`);
  }

  jobs(projectId: number, query: URLSearchParams): Promise<Schemas['Job'][]> {
    return this.json('GET', `/api/v4/projects/${projectId}/jobs?${query}`);
  }

  job(projectId: number, jobId: number): Promise<Schemas['Job']> {
    return this.json('GET', `/api/v4/projects/${projectId}/jobs/${jobId}`);
  }

  trace(projectId: number, jobId: number): Promise<string> {
    return this.text(`/api/v4/projects/${projectId}/jobs/${jobId}/trace`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function refusal(status: number, body: unknown, text: string): ApiError {
  if (typeof body === 'object' && body !== null && 'message' in body) {
    const { message, errors } = body as { message: unknown; errors?: unknown };
    return new ApiError(status, String(message), Array.isArray(errors) ? errors.map(String) : []);
  }
  return new ApiError(status, `${status} ${text}`.trim());
}
