// Issue 2's concurrency acceptance: 20 runners poll at once while 200 builds are queued, and every
// build is handed out exactly once. The runners finish each build they get, so the queue order
// (fairness by running builds) shifts under them while they race for the same candidates. The
// second case splits the runners across two servers sharing one SQLite file, as several server
// processes would (each server has its own connection, so SQLite's locking decides, not Node's).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { factoryJob, RunnerApi, startWorld, type BuildDetails, type World } from './support/runnerApi.js';

const PROJECTS = 5;
const PIPELINES_PER_PROJECT = 2;
const JOBS_PER_PIPELINE = 20;
const RUNNERS = 20;
const TOTAL_BUILDS = PROJECTS * PIPELINES_PER_PROJECT * JOBS_PER_PIPELINE;
/** A runner that got a "no build" answer stops; a later round catches builds a lost race left behind. */
const MAX_ROUNDS = 5;

describe('queue under concurrent runners', () => {
  let world: World;
  let secondServer: TestCoordinator;
  before(async () => {
    world = await startWorld();
    secondServer = await startTestCoordinator({ DATA_DIR: world.coordinator.dataDir, DATABASE_URL: world.coordinator.config.databaseUrl });
  });
  after(async () => {
    await secondServer.stop();
    await world.coordinator.stop();
  });

  test(`${RUNNERS} runners polling one server at once get each of ${TOTAL_BUILDS} builds exactly once`, async () => {
    await raceForBuilds(world, [world.runners]);
  });

  test(`${RUNNERS} runners polling two servers on one database get each of ${TOTAL_BUILDS} more builds exactly once`, async () => {
    await raceForBuilds(world, [world.runners, new RunnerApi(secondServer.url)]);
  });
});

/** Queues TOTAL_BUILDS new builds, lets RUNNERS runners (spread over `servers`) race for them, and checks the outcome. */
async function raceForBuilds(world: World, servers: RunnerApi[]): Promise<void> {
  const buildsBefore = new Set((await world.coordinator.db('builds').select('id')).map((row: { id: number }) => Number(row.id)));
  // One stage per pipeline, so every build is pending before the first poll.
  const ciConfig = Array.from({ length: JOBS_PER_PIPELINE }, (_, i) => factoryJob(`job${i}`)).join('');
  const pipelines: { projectId: number; pipelineId: number }[] = [];
  for (let p = 0; p < PROJECTS; p++) {
    const project = await world.api.createProject({ name: `project-${p}` });
    for (let n = 0; n < PIPELINES_PER_PROJECT; n++) {
      const pipeline = await world.api.createPipeline(project.id, { ci_config: ciConfig });
      pipelines.push({ projectId: project.id, pipelineId: pipeline.id });
    }
  }
  const runners = await Promise.all(
    Array.from({ length: RUNNERS }, async (_, i) => {
      const server = servers[i % servers.length]!;
      return { server, token: (await server.registerRunner({ token: world.coordinator.registrationToken, description: `runner-${i}` })).token };
    }),
  );

  const handedOut: number[] = [];
  const failures: string[] = [];
  /** Polls until the first empty answer; finishes every build it gets. Answers how many it took. */
  const pollUntilEmpty = async ({ server, token }: { server: RunnerApi; token: string }): Promise<number> => {
    let taken = 0;
    for (let attempt = 0; attempt <= TOTAL_BUILDS; attempt++) {
      const reply = await server.requestBuild(token);
      if (reply.status === 204) return taken;
      if (reply.status !== 201) {
        failures.push(`register: ${reply.status} ${reply.text}`);
        return taken;
      }
      const build = reply.json as BuildDetails;
      handedOut.push(build.id);
      taken++;
      const update = await server.updateBuild(build.id, { token, state: 'success', trace: `done ${build.id}\n` });
      if (update.status !== 200 || update.text !== 'true') failures.push(`PUT ${build.id}: ${update.status} ${update.text}`);
    }
    failures.push('a runner never saw an empty queue');
    return taken;
  };

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const taken = await Promise.all(runners.map(pollUntilEmpty));
    if (taken.every((count) => count === 0)) break;
  }

  assert.deepEqual(failures, []);
  const duplicates = handedOut.filter((id, index) => handedOut.indexOf(id) !== index);
  assert.deepEqual(duplicates, [], 'no build handed out twice');
  const allIds = (await world.coordinator.db('builds').select('id').orderBy('id'))
    .map((row: { id: number }) => Number(row.id))
    .filter((id: number) => !buildsBefore.has(id));
  assert.equal(allIds.length, TOTAL_BUILDS);
  assert.deepEqual([...handedOut].sort((a, b) => a - b), allIds, 'every build handed out');
  const statuses: { status: string; n: number | string }[] = await world.coordinator.db('builds').select('status').count({ n: '*' }).groupBy('status');
  assert.deepEqual(statuses.map((row) => [row.status, Number(row.n)]), [['success', buildsBefore.size + TOTAL_BUILDS]]);
  for (const { projectId, pipelineId } of pipelines) {
    assert.equal((await world.api.getPipeline(projectId, pipelineId)).status, 'success');
  }
}
