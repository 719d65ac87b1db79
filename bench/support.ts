import { startTestCoordinator, type TestCoordinator } from '../test/support/coordinator.js';
import { UserApi } from '../test/support/userApi.js';

export interface RunningBuild {
  coordinator: TestCoordinator;
  id: number;
  token: string;
  runnerToken: string;
}

/** A real coordinator with one project, one pipeline of `jobs` builds and one shared runner. */
export async function coordinatorWithPendingBuilds(jobs: number, env: Record<string, string> = {}) {
  const coordinator = await startTestCoordinator(env);
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const project = await api.createProject({ name: 'bench' });
  const config = Array.from({ length: jobs }, (_, i) => `job${i}:\n  script: echo ${i}\n`).join('');
  await api.createPipeline(project.id, { ci_config: config });
  const runner = await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: coordinator.registrationToken });
  return { coordinator, api, runnerToken: String(runner.body.token) };
}

export async function takeBuild(url: string, runnerToken: string): Promise<{ id: number; token: string }> {
  const reply = await postJson(url, '/ci/api/v1/builds/register.json', { token: runnerToken });
  if (reply.status !== 201) throw new Error(`no build: ${reply.status}`);
  return { id: Number(reply.body.id), token: String(reply.body.token) };
}

export async function postJson(url: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'gitlab-ci-multi-runner 1.11.5 (bench; go1.8; linux/amd64)' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export function formatRate(label: string, count: number, ms: number): string {
  return `${label}: ${count} in ${ms.toFixed(0)} ms = ${((count * 1000) / ms).toFixed(0)}/s`;
}
