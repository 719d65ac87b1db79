/**
 * What does a runner's poll cost when the queue is long but holds nothing for it?
 * Three queues side by side, in one run: empty; 2,000 pending builds tagged `gpu`,
 * which an untagged runner may not pick; 2,000 pending untagged builds, which it takes
 * one per poll (claim, pipeline update and payload). Polls run 8 at a time.
 */
import { startTestCoordinator, type TestCoordinator } from '../test/support/coordinator.js';
import { UserApi } from '../test/support/userApi.js';
import { formatRate, postJson } from './support.js';

const QUEUED = Number(process.env.QUEUED ?? 2000);
const POLLS = Number(process.env.POLLS ?? 400);
const CONCURRENCY = 8;

export async function benchRegisterPoll(): Promise<string[]> {
  const lines: string[] = [];
  const timings: Record<string, number> = {};
  for (const [label, tags] of [
    ['empty queue', undefined],
    [`${QUEUED} builds it may not pick`, ['gpu']],
    [`${QUEUED} builds it takes`, []],
  ] as const) {
    const coordinator = await startTestCoordinator();
    try {
      if (tags) await queueBuilds(coordinator, QUEUED, [...tags]);
      const runner = await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: coordinator.registrationToken });
      const { ms, statuses } = await poll(coordinator.url, String(runner.body.token));
      timings[label] = ms;
      lines.push(`${formatRate(`poll, ${label}`, POLLS, ms)} (statuses ${JSON.stringify(statuses)})`);
    } finally {
      await coordinator.stop();
    }
  }
  const [empty, unpickable, pickable] = Object.values(timings) as [number, number, number];
  lines.push(`ratio unpickable/empty: ${(unpickable / empty).toFixed(2)}, taking/empty: ${(pickable / empty).toFixed(2)}`);
  return lines;
}

async function queueBuilds(coordinator: TestCoordinator, count: number, tags: string[]): Promise<void> {
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const perPipeline = 100;
  const tagLine = tags.length ? `  tags: [${tags.join(', ')}]\n` : '';
  const config = Array.from({ length: perPipeline }, (_, i) => `job${i}:\n  script: echo ${i}\n${tagLine}`).join('');
  for (let made = 0; made < count; made += perPipeline) {
    const project = await api.createProject({ name: `bench-${made}` });
    await api.createPipeline(project.id, { ci_config: config });
  }
}

async function poll(url: string, runnerToken: string): Promise<{ ms: number; statuses: Record<number, number> }> {
  const statuses: Record<number, number> = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < POLLS) {
        const reply = await postJson(url, '/ci/api/v1/builds/register.json', { token: runnerToken });
        statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
      }
    }),
  );
  return { ms: performance.now() - started, statuses };
}
