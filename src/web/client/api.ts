import type { components } from '../../generated/api';

export type Schemas = components['schemas'];
export type Session = Schemas['Session'];

/** The user API, authenticated by the session cookie; changes carry the session's CSRF token. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;

export function rememberSession(session: Session | undefined): void {
  csrfToken = session?.csrf_token;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed: unknown = text && (response.headers.get('content-type') ?? '').startsWith('application/json') ? JSON.parse(text) : text;
  if (!response.ok) {
    const message = typeof parsed === 'object' && parsed !== null && 'message' in parsed ? String((parsed as { message: unknown }).message) : text;
    throw new ApiError(response.status, message || `${response.status}`);
  }
  return parsed as T;
}

export async function currentSession(): Promise<Session | undefined> {
  try {
    return await api<Session>('GET', '/-/session');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    throw err;
  }
}
