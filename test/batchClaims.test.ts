// Issue 7: claims that wait in line together are chosen in memory and written in one statement
// (src/domain/buildQueue.ts, BatchClaims). Runners with different pick rules read different
// views of the shared queue in one batch, and the same build is in several of them; runners of
// both APIs are in the same batches, and each claim records how its own build was handed out.
// 30 runners poll at once, so most polls wait behind a claim in flight and go in a batch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorld, type BuildDetails, type World } from './support/runnerApi.js';
import { V4_FEATURES, V4Api, v4Info, type JobPayload } from './support/v4Api.js';
import { registerTestRunner } from './support/v4Runners.js';

interface Kind {
  tags: string[];
  runUntagged: boolean;
}

/** Untagged builds, `docker` builds and `docker, gpu` builds, JOBS_PER_KIND of each. */
const JOBS_PER_KIND = 30;
const KINDS: Kind[] = [
  { tags: [], runUntagged: true },
  { tags: ['docker'], runUntagged: true },
  { tags: ['docker', 'gpu'], runUntagged: false },
];
const BUILD_TAGS: string[][] = [[], ['docker'], ['docker', 'gpu']];
const RUNNERS_PER_KIND_AND_API = 5;

interface Poller {
  api: 'v1' | 'v4';
  kind: Kind;
  id: number;
  token: string;
  /** The v4 runner's `cancel_gracefully` feature. */
  graceful: boolean;
}

describe('batched claims', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(async () => {
    await world.coordinator.stop();
  });

  test('runners of both APIs with different pick rules, claiming in the same batches, get each build once, only builds they may pick, each recorded as handed out', async () => {
    const project = await world.api.createProject({ name: 'batched' });
    const ciConfig = BUILD_TAGS.flatMap((tags, kind) =>
      Array.from({ length: JOBS_PER_KIND }, (_, i) => `job-${kind}-${i}:\n  script: make\n${tags.length > 0 ? `  tags: [${tags.join(', ')}]\n` : ''}`),
    ).join('');
    await world.api.createPipeline(project.id, { ci_config: ciConfig });
    const v4 = new V4Api(world.coordinator.url);
    const pollers: Poller[] = [];
    for (const kind of KINDS) {
      for (let i = 0; i < RUNNERS_PER_KIND_AND_API; i++) {
        const fields = { tag_list: kind.tags.join(','), run_untagged: kind.runUntagged };
        const v1 = await world.runners.registerRunner({ token: world.coordinator.registrationToken, ...fields });
        pollers.push({ api: 'v1', kind, id: v1.id, token: v1.token, graceful: false });
        const registered = await registerTestRunner(world.coordinator.url, world.coordinator.registrationToken, { ...fields, tag_list: kind.tags, locked: false });
        pollers.push({ api: 'v4', kind, id: registered.id, token: registered.token, graceful: i % 2 === 0 });
      }
    }

    const takenBy = new Map<number, Poller[]>();
    const failures: string[] = [];
    const pollUntilEmpty = async (poller: Poller): Promise<void> => {
      for (;;) {
        const reply =
          poller.api === 'v1'
            ? await world.runners.requestBuild(poller.token)
            : await v4.requestJob(poller.token, { info: v4Info({ ...V4_FEATURES, cancel_gracefully: poller.graceful }) });
        if (reply.status === 204) return;
        if (reply.status !== 201) {
          failures.push(`${poller.api} runner ${poller.id}: ${reply.status} ${reply.text}`);
          return;
        }
        const id = poller.api === 'v1' ? (reply.json as BuildDetails).id : (reply.json as JobPayload).id;
        takenBy.set(id, [...(takenBy.get(id) ?? []), poller]);
      }
    };
    await Promise.all(pollers.map(pollUntilEmpty));

    assert.deepEqual(failures, []);
    for (const api of ['v1', 'v4']) assert.ok([...takenBy.values()].some(([taker]) => taker!.api === api), `the ${api} runners took builds`);
    const twice = [...takenBy].filter(([, takers]) => takers.length > 1).map(([id]) => id);
    assert.deepEqual(twice, [], 'no build is handed out twice');
    const rows: { id: number; name: string; status: string; runner_id: number | null; runner_api: string | null; cancel_gracefully: number | boolean }[] =
      await world.coordinator.db('builds').where({ project_id: project.id }).select('id', 'name', 'status', 'runner_id', 'runner_api', 'cancel_gracefully');
    assert.equal(rows.length, BUILD_TAGS.length * JOBS_PER_KIND);
    // Every build has a runner that may take it: untagged by the first two kinds, docker by the
    // last two, docker+gpu by the last; so none is left behind.
    const wrong: string[] = [];
    for (const row of rows) {
      const taker = takenBy.get(Number(row.id))?.[0];
      if (!taker) {
        wrong.push(`${row.name}: never handed out (${row.status})`);
        continue;
      }
      const buildTags = BUILD_TAGS[Number(row.name.split('-')[1])]!;
      const mayPick = buildTags.length === 0 ? taker.kind.runUntagged : buildTags.every((tag) => taker.kind.tags.includes(tag));
      if (!mayPick) wrong.push(`${row.name} went to a runner tagged [${taker.kind.tags.join(', ')}]`);
      if (row.status !== 'running' || Number(row.runner_id) !== taker.id) wrong.push(`${row.name}: ${row.status} on runner ${row.runner_id}, told to runner ${taker.id}`);
      if (row.runner_api !== taker.api) wrong.push(`${row.name}: recorded as handed out through ${row.runner_api}, claimed through ${taker.api}`);
      if (Boolean(row.cancel_gracefully) !== (taker.api === 'v4' && taker.graceful)) wrong.push(`${row.name}: cancel_gracefully ${row.cancel_gracefully}`);
    }
    assert.deepEqual(wrong, []);
    const pipelines: { status: string }[] = await world.coordinator.db('pipelines').where({ project_id: project.id }).select('status');
    assert.deepEqual(pipelines.map((p) => p.status), ['running']);
  });
});
