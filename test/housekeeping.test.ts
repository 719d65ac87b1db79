// Housekeeping (gitlab-ci-api-v1.md §6 "Expiry", §4 "Stuck builds"): expired artifacts removed,
// stuck builds failed with a line in their trace. Driven by an injected clock and one pass on
// demand (coordinator.housekeeping.runOnce()); the server's own timer is off unless a test
// is about the timer.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ConfigError, loadConfig } from '../src/config.js';
import { placeArtifactsFile, recordPlacedArtifacts, removeArtifacts } from '../src/domain/artifacts.js';
import { HousekeepingSchedule, removeExpiredArtifacts, type HousekeepingReport } from '../src/domain/housekeeping.js';
import { artifactsDirectory } from '../src/store/artifacts.js';
import { listExpiredArtifacts } from '../src/store/housekeeping.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { receivedUpload } from './support/receivedUpload.js';
import { storedTrace } from './support/runnerApi.js';
import { BuildStarter, ManualClock, type RunningBuild } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';
import { zipToBuffer } from './support/zip.js';

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NO_TIMER = { HOUSEKEEPING_INTERVAL_SECONDS: '0' };
const STUCK_RUNNING_LINE = '\nThis build was marked failed: stuck in running for more than 24 hours.\n';
const STUCK_PENDING_LINE = '\nThis build was marked failed: stuck in pending for more than 24 hours.\n';
/** rspec, and a cleanup that runs only when an earlier stage failed: it shows the pipeline was processed. */
const CONFIG_WITH_CLEANUP = 'rspec:\n  script: rspec\ncleanup:\n  stage: deploy\n  script: ./cleanup\n  when: on_failure\n';

interface World {
  clock: ManualClock;
  coordinator: TestCoordinator;
  api: UserApi;
  starter: BuildStarter;
}

const worlds: World[] = [];

/** A coordinator of its own per test: each test moves its clock freely. */
async function startWorld(env: Record<string, string> = NO_TIMER, clock = new ManualClock()): Promise<World> {
  const coordinator = await startTestCoordinator(env, clock);
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const world = { clock, coordinator, api, starter: new BuildStarter(coordinator.url, api) };
  worlds.push(world);
  return world;
}

afterEach(async () => {
  // Newest first: a second coordinator sharing the first one's DATA_DIR stops before it.
  for (const world of worlds.splice(0).reverse()) {
    world.starter.close();
    await world.coordinator.stop();
  }
});

/** The build's row, with its archive (job_artifacts, type `archive`) as `artifacts_*`: all null without one. */
async function buildRow(world: World, id: number): Promise<Record<string, unknown>> {
  const row = await world.coordinator.db('builds').where({ id }).first();
  assert.ok(row, `build ${id} exists`);
  const archive = await world.coordinator.db('job_artifacts').where({ build_id: id, file_type: 'archive' }).first();
  return {
    ...(row as Record<string, unknown>),
    artifacts_filename: archive?.filename ?? null,
    artifacts_size: archive ? Number(archive.size) : null,
    artifacts_expire_at: archive?.expire_at ?? null,
  };
}

/** A build that ran, uploaded artifacts (expiring in `expireIn`, or never) and succeeded. */
async function finishedWithArtifacts(world: World, expireIn?: string): Promise<RunningBuild> {
  const running = await world.starter.start();
  const upload = await running.runner.uploadArtifacts(running.build.id, running.build.token, { files: { 'out.txt': 'result' } }, expireIn ? { expireIn } : {});
  assert.equal(upload.status, 201, upload.body.toString());
  const put = await running.runner.putBuild(running.build.id, { state: 'success' });
  assert.equal(put.status, 200);
  return running;
}

/** The files in a build's archive directory: one while it has an archive, none once removed. */
function archiveFiles(dataDir: string, buildId: number): string[] {
  const dir = artifactsDirectory(dataDir, buildId);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

function countOf(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('expired artifacts', () => {
  test('are removed (file and columns) by a pass, after having been hidden from payloads since expiry', async () => {
    const world = await startWorld();
    const expiring = await finishedWithArtifacts(world, '1 day');
    const later = await finishedWithArtifacts(world, '1 week');
    const forever = await finishedWithArtifacts(world);
    const dataDir = world.coordinator.config.dataDir;
    const filesOf = (running: RunningBuild) => archiveFiles(dataDir, running.build.id);

    world.clock.advance(DAY + MINUTE);
    // Expired but not yet removed: the job no longer shows it, a download still gets it (as in GitLab).
    const job = await world.api.request<{ artifacts_file: unknown }>('GET', `/api/v4/projects/${expiring.projectId}/jobs/${expiring.build.id}`);
    assert.equal(job.body.artifacts_file, null);
    assert.equal((await expiring.runner.downloadArtifacts(expiring.build.id, expiring.build.token)).status, 200);

    assert.deepEqual(await world.coordinator.housekeeping.runOnce(), { expiredArtifacts: 1, stuckBuilds: 0 });
    assert.deepEqual(filesOf(expiring), []);
    const row = await buildRow(world, expiring.build.id);
    assert.deepEqual([row.artifacts_filename, row.artifacts_size, row.artifacts_expire_at], [null, null, null]);
    assert.equal((await expiring.runner.downloadArtifacts(expiring.build.id, expiring.build.token)).status, 404);
    for (const kept of [later, forever]) {
      assert.equal(filesOf(kept).length, 1);
      assert.equal((await kept.runner.downloadArtifacts(kept.build.id, kept.build.token)).status, 200);
    }

    assert.deepEqual(await world.coordinator.housekeeping.runOnce(), { expiredArtifacts: 0, stuckBuilds: 0 });
    world.clock.advance(7 * DAY);
    assert.deepEqual(await world.coordinator.housekeeping.runOnce(), { expiredArtifacts: 1, stuckBuilds: 0 });
    assert.deepEqual(filesOf(later), []);
    assert.equal(filesOf(forever).length, 1);
  });

  test('an archive expiring exactly now counts as expired, as in the payloads', async () => {
    const world = await startWorld();
    const expiring = await finishedWithArtifacts(world, '2h');
    world.clock.advance(2 * HOUR - 1);
    assert.equal((await world.coordinator.housekeeping.runOnce()).expiredArtifacts, 0);
    world.clock.advance(1);
    assert.equal((await world.coordinator.housekeeping.runOnce()).expiredArtifacts, 1);
    assert.deepEqual(archiveFiles(world.coordinator.config.dataDir, expiring.build.id), []);
  });
});

// The races between a re-upload and a pass happen between two statements of one request,
// which no HTTP client can time. So these tests drive the domain functions themselves, in
// the order that used to lose data, against the server's real SQLite database and real files;
// the archives are uploaded and downloaded through HTTP around them.
describe('expiry racing a re-upload', () => {
  /** A running build with an archive that expired an hour ago. */
  async function expiredArchive(world: World): Promise<RunningBuild> {
    const running = await world.starter.start();
    const upload = await running.runner.uploadArtifacts(running.build.id, running.build.token, { files: { 'old.txt': 'old' } }, { expireIn: '1 hour' });
    assert.equal(upload.status, 201, upload.body.toString());
    world.clock.advance(2 * HOUR);
    return running;
  }

  test('a pass between the new file being placed and the row naming it removes the old archive only', async () => {
    const world = await startWorld();
    const { build, runner } = await expiredArchive(world);
    const { db, config: { dataDir } } = world.coordinator;
    const fresh = await zipToBuffer({ 'new.txt': 'new' });

    const placed = await placeArtifactsFile(dataDir, build.id, receivedUpload(dataDir, fresh), null);
    assert.equal(await removeExpiredArtifacts(db, world.clock, dataDir), 1, 'the expired archive goes');
    assert.deepEqual(archiveFiles(dataDir, build.id), [`${placed.fileKey}.zip`], 'the new file stays');
    assert.equal(await recordPlacedArtifacts(db, world.clock, dataDir, build.id, placed), true);

    const download = await runner.downloadArtifacts(build.id, build.token);
    assert.equal(download.status, 200);
    assert.ok(download.body.equals(fresh));
    const row = await buildRow(world, build.id);
    assert.deepEqual([row.artifacts_filename, row.artifacts_expire_at], ['new.zip', null]);
    assert.deepEqual(archiveFiles(dataDir, build.id), [`${placed.fileKey}.zip`]);
    assert.equal(await removeExpiredArtifacts(db, world.clock, dataDir), 0);
  });

  test('a pass that listed the old archive before a re-upload removes nothing after it', async () => {
    const world = await startWorld();
    const { build, runner } = await expiredArchive(world);
    const { db, config: { dataDir } } = world.coordinator;
    const [listed, ...others] = await listExpiredArtifacts(db, world.clock.now().toISOString(), 0, 100);
    assert.ok(listed);
    assert.deepEqual(others, []);

    // Same name, and an expiry already passed too: only the file key tells the two archives apart.
    const again = await runner.uploadArtifacts(build.id, build.token, { files: { 'new.txt': 'new' } }, { expireIn: '1 sec' });
    assert.equal(again.status, 201);
    world.clock.advance(MINUTE);
    assert.equal(await removeArtifacts(db, dataDir, listed.buildId, listed.fileKey), false);

    const download = await runner.downloadArtifacts(build.id, build.token);
    assert.equal(download.status, 200);
    assert.equal(download.body.length, JSON.parse(again.body.toString()).artifacts_file.size);
    assert.equal(archiveFiles(dataDir, build.id).length, 1);
    // The next pass sees the new archive, expired in its turn, and removes it.
    assert.equal(await removeExpiredArtifacts(db, world.clock, dataDir), 1);
    assert.deepEqual(archiveFiles(dataDir, build.id), []);
  });
});

describe('stuck builds', () => {
  test('a running and a pending build untouched for a day are failed, say why in the trace, and their pipelines advance', async () => {
    const world = await startWorld();
    const running = await world.starter.start(CONFIG_WITH_CLEANUP);
    const patched = await running.runner.patchTrace(running.build.id, running.build.token, 0, 'hello\n');
    assert.equal(patched.status, 202);
    const waiting = await world.starter.prepare(CONFIG_WITH_CLEANUP);
    const [pendingJob] = await world.api.listJobs(waiting.project.id, waiting.pipeline.id);
    assert.equal(pendingJob?.status, 'pending');
    const alive = await world.starter.start();

    // The alive build's runner keeps sending trace; an append refreshes updated_at at most every 15 minutes.
    world.clock.advance(23 * HOUR);
    assert.equal((await alive.runner.patchTrace(alive.build.id, alive.build.token, 0, 'still working\n')).status, 202);
    world.clock.advance(2 * HOUR);
    assert.deepEqual(await world.coordinator.housekeeping.runOnce(), { expiredArtifacts: 0, stuckBuilds: 2 });
    const now = world.clock.now().toISOString();

    const failedRunning = await buildRow(world, running.build.id);
    assert.equal(failedRunning.status, 'failed');
    assert.equal(failedRunning.finished_at, now);
    const trace = await storedTrace(world.coordinator.db, running.build.id);
    assert.equal(trace, `hello\n${STUCK_RUNNING_LINE}`);
    assert.equal(Number(failedRunning.trace_length), Buffer.byteLength(trace));
    const jobTrace = await world.api.request('GET', `/api/v4/projects/${running.projectId}/jobs/${running.build.id}/trace`);
    assert.equal(jobTrace.text, trace);

    // The runner's next append at its own offset learns the real length; at that length it learns the status.
    const stale = await running.runner.patchTrace(running.build.id, running.build.token, 6, 'more\n');
    assert.equal(stale.status, 416);
    assert.equal(stale.range, `0-${Buffer.byteLength(trace)}`);
    const resent = await running.runner.patchTrace(running.build.id, running.build.token, Buffer.byteLength(trace), 'more\n');
    assert.equal(resent.status, 202);
    assert.equal(resent.buildStatus, 'failed');
    assert.equal((await running.runner.putBuild(running.build.id, { state: 'success' })).status, 404);

    const failedPending = await buildRow(world, pendingJob.id);
    assert.equal(failedPending.status, 'failed');
    assert.equal(await storedTrace(world.coordinator.db, pendingJob.id), STUCK_PENDING_LINE);

    for (const [projectId, pipelineId] of [[running.projectId, Number(failedRunning.pipeline_id)], [waiting.project.id, waiting.pipeline.id]]) {
      const jobs = await world.api.listJobs(Number(projectId), Number(pipelineId));
      assert.deepEqual(jobs.map((job) => [job.name, job.status]), [['rspec', 'failed'], ['cleanup', 'pending']]);
    }
    assert.equal((await buildRow(world, alive.build.id)).status, 'running');
    assert.deepEqual(await world.coordinator.housekeeping.runOnce(), { expiredArtifacts: 0, stuckBuilds: 0 });
  });

  test('STUCK_BUILD_TIMEOUT_HOURS sets the limit, and finished builds are never touched', async () => {
    const world = await startWorld({ ...NO_TIMER, STUCK_BUILD_TIMEOUT_HOURS: '2' });
    const running = await world.starter.start();
    const finished = await finishedWithArtifacts(world);
    world.clock.advance(2 * HOUR);
    assert.equal((await world.coordinator.housekeeping.runOnce()).stuckBuilds, 0, 'not older than the limit yet');
    world.clock.advance(1);
    assert.equal((await world.coordinator.housekeeping.runOnce()).stuckBuilds, 1);
    assert.equal(
      await storedTrace(world.coordinator.db, running.build.id),
      '\nThis build was marked failed: stuck in running for more than 2 hours.\n',
    );
    assert.equal((await buildRow(world, finished.build.id)).status, 'success');
  });
});

describe('several server processes', () => {
  test('two passes at once on one database: each archive removed and each stuck build failed exactly once', async () => {
    const clock = new ManualClock();
    const first = await startWorld(NO_TIMER, clock);
    const second = await startWorld({
      ...NO_TIMER,
      DATA_DIR: first.coordinator.config.dataDir,
      DATABASE_URL: first.coordinator.config.databaseUrl,
    }, clock);
    const dataDir = first.coordinator.config.dataDir;

    const expired: RunningBuild[] = [];
    const stuck: RunningBuild[] = [];
    const ROUNDS = 2;
    const PER_ROUND = 3;
    for (let round = 0; round < ROUNDS; round++) {
      const archives: RunningBuild[] = [];
      const builds: RunningBuild[] = [];
      for (let i = 0; i < PER_ROUND; i++) {
        archives.push(await finishedWithArtifacts(first, '1 hour'));
        builds.push(await first.starter.start());
      }
      clock.advance(DAY + MINUTE);
      const reports: HousekeepingReport[] = await Promise.all([
        first.coordinator.housekeeping.runOnce(),
        second.coordinator.housekeeping.runOnce(),
      ]);
      assert.equal(reports.reduce((sum, r) => sum + r.expiredArtifacts, 0), PER_ROUND, JSON.stringify(reports));
      assert.equal(reports.reduce((sum, r) => sum + r.stuckBuilds, 0), PER_ROUND, JSON.stringify(reports));
      expired.push(...archives);
      stuck.push(...builds);
    }

    for (const archive of expired) assert.deepEqual(archiveFiles(dataDir, archive.build.id), []);
    for (const build of stuck) {
      const trace = await storedTrace(first.coordinator.db, build.build.id);
      assert.equal(countOf(trace, 'This build was marked failed'), 1, `build ${build.build.id}: ${JSON.stringify(trace)}`);
      const row = await buildRow(first, build.build.id);
      assert.equal(row.status, 'failed');
      assert.equal(Number(row.trace_length), Buffer.byteLength(trace));
    }
  });
});

describe('the schedule', () => {
  test('the server runs passes on its own every HOUSEKEEPING_INTERVAL_SECONDS', async () => {
    const world = await startWorld({ HOUSEKEEPING_INTERVAL_SECONDS: '1' });
    const expiring = await finishedWithArtifacts(world, '1 hour');
    world.clock.advance(2 * HOUR);
    const files = () => archiveFiles(world.coordinator.config.dataDir, expiring.build.id);
    // Waits for the event (the file disappearing), bounded so a broken timer fails instead of hanging.
    const deadline = Date.now() + 15_000;
    while (files().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(files(), [], 'the scheduled pass removed the expired archive');
  });

  test('passes never overlap, a failing pass is logged and the next one still runs, stop waits for the pass in progress', async () => {
    const log: string[] = [];
    let passes = 0;
    let release: () => void = () => {};
    let reachedThird: () => void = () => {};
    const third = new Promise<void>((resolve) => (reachedThird = resolve));
    let inProgress = 0;
    let overlapped = false;
    const schedule = new HousekeepingSchedule(async () => {
      inProgress++;
      overlapped ||= inProgress > 1;
      passes++;
      try {
        if (passes === 1) throw new Error('database unavailable');
        if (passes === 3) {
          reachedThird();
          await new Promise<void>((resolve) => (release = resolve));
        }
        return { expiredArtifacts: 1, stuckBuilds: 0 };
      } finally {
        inProgress--;
      }
    }, 1, (line) => log.push(line));
    // The schedule's timer is unref'd (it must not keep a server alive); this keeps the test's event loop alive.
    const keepAlive = setInterval(() => {}, 1000);
    schedule.start();
    await third;
    let stopped = false;
    const stopping = schedule.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'stop waits for the pass in progress');
    release();
    await stopping;
    clearInterval(keepAlive);
    assert.equal(passes, 3);
    assert.equal(overlapped, false);
    assert.match(log[0] ?? '', /^error: housekeeping: Error: database unavailable/);
    assert.equal(log[1], 'housekeeping: removed 1 expired artifacts, failed 0 stuck builds');
  });
});

describe('configuration', () => {
  test('defaults: a pass every 300 seconds, stuck after 24 hours', () => {
    const config = loadConfig({});
    assert.equal(config.housekeepingIntervalMs, 300 * 1000);
    assert.equal(config.stuckBuildTimeoutMs, DAY);
    assert.equal(loadConfig({ HOUSEKEEPING_INTERVAL_SECONDS: '0' }).housekeepingIntervalMs, 0);
  });

  test('values outside their range are refused at start-up', () => {
    for (const env of [
      { HOUSEKEEPING_INTERVAL_SECONDS: '-1' },
      { HOUSEKEEPING_INTERVAL_SECONDS: '1.5' },
      { HOUSEKEEPING_INTERVAL_SECONDS: '86401' },
      { STUCK_BUILD_TIMEOUT_HOURS: '0' },
      { STUCK_BUILD_TIMEOUT_HOURS: 'a day' },
      { STUCK_BUILD_TIMEOUT_HOURS: '1e30' },
    ]) {
      assert.throws(() => loadConfig(env), ConfigError, JSON.stringify(env));
    }
  });
});
