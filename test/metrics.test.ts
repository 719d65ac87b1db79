// /metrics (prom-client), black-box: a scripted run through a real server and a simulated runner,
// with the figures read before and after each step. The coordinator's clock is a manual one, so
// the pickup latency is exact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMetrics, type Metrics } from './support/prometheus.js';
import { ManualClock, startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { RunnerSimulator } from './support/runnerSimulator.js';
import { startTestCoordinator } from './support/coordinator.js';

const requests = (operation: string, status: number) => ['coordinator_http_requests_total', { operation, status: String(status) }] as const;

describe('Prometheus metrics', () => {
  let world: BuildWorld;
  const clock = new ManualClock();
  before(async () => {
    world = await startBuildWorld({}, clock);
  });
  after(() => world.stop());

  const scrape = async (): Promise<Metrics> => {
    const reply = await fetch(`${world.coordinator.url}/metrics`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    return parseMetrics(await reply.text());
  };

  test('parses as Prometheus text, with HELP, TYPE and the process metrics', async () => {
    const metrics = await scrape();
    for (const name of [
      'coordinator_http_requests_total',
      'coordinator_http_request_duration_seconds',
      'coordinator_build_requests_total',
      'coordinator_build_claim_duration_seconds',
      'coordinator_build_pickup_latency_seconds',
      'coordinator_trace_bytes_appended_total',
      'coordinator_artifact_bytes_stored_total',
      'coordinator_artifact_bytes_served_total',
      'coordinator_long_polls_waiting',
      'coordinator_builds',
      'coordinator_queue_depth',
      'coordinator_runners_online',
      'coordinator_process_cpu_user_seconds_total',
    ]) {
      assert.ok(metrics.family(name), name);
    }
    assert.equal(metrics.family('coordinator_build_pickup_latency_seconds').type, 'histogram');
    assert.equal(metrics.family('coordinator_queue_depth').type, 'gauge');
    assert.equal(metrics.family('coordinator_trace_bytes_appended_total').type, 'counter');
    assert.equal(metrics.value('coordinator_long_polls_waiting', { api: 'v1' }), 0);
  });

  test('counters and gauges move as a scripted run expects', async () => {
    const start = await scrape();
    const delta = (now: Metrics, ...[name, labels]: readonly [string, Record<string, string>?]) => now.value(name, labels) - start.value(name, labels);

    const { project, runner } = await world.builds.prepare('rspec:\n  script: rspec\n');
    let now = await scrape();
    assert.equal(delta(now, 'coordinator_queue_depth'), 1, 'the new build waits in the queue');
    assert.equal(delta(now, 'coordinator_builds', { status: 'pending' }), 1);
    assert.equal(delta(now, ...requests('createProject', 201)), 1);
    assert.equal(delta(now, ...requests('createPipeline', 201)), 1);
    assert.equal(delta(now, ...requests('registerRunnerJson', 201)), 1);

    // The build waited 5 s (on the coordinator's clock) before the runner asked.
    clock.advance(5000);
    const stranger = new RunnerSimulator(world.coordinator.url, 'no-such-runner-token');
    await assert.rejects(stranger.requestBuild(), /403/);
    stranger.close();
    const build = await runner.requestBuild();
    assert.ok(build);
    assert.equal(await runner.requestBuild(), null, 'nothing more for it');
    now = await scrape();
    assert.equal(delta(now, 'coordinator_build_requests_total', { api: 'v1', outcome: 'forbidden' }), 1);
    assert.equal(delta(now, 'coordinator_build_requests_total', { api: 'v1', outcome: 'build' }), 1);
    assert.equal(delta(now, 'coordinator_build_requests_total', { api: 'v1', outcome: 'none' }), 1);
    assert.equal(delta(now, ...requests('registerBuildJson', 201)), 1);
    assert.equal(delta(now, ...requests('registerBuildJson', 204)), 1);
    assert.equal(delta(now, ...requests('registerBuildJson', 403)), 1);
    const pickup = now.histogram('coordinator_build_pickup_latency_seconds', { api: 'v1' });
    const pickupBefore = start.histogram('coordinator_build_pickup_latency_seconds', { api: 'v1' });
    assert.equal(pickup.count - pickupBefore.count, 1);
    assert.equal(pickup.sum - pickupBefore.sum, 5, 'from queued_at to the claim');
    const claims = now.histogram('coordinator_build_claim_duration_seconds', { api: 'v1' });
    assert.equal(claims.count - start.histogram('coordinator_build_claim_duration_seconds', { api: 'v1' }).count, 1);
    assert.equal(delta(now, 'coordinator_queue_depth'), 0);
    assert.equal(delta(now, 'coordinator_builds', { status: 'running' }), 1);
    assert.ok(now.value('coordinator_runners_online') >= 1);

    const trace = 'Running with gitlab-ci-multi-runner 1.11.5\n$ rspec\n';
    assert.equal((await runner.patchTrace(build.id, build.token, 0, trace)).status, 202);
    assert.equal((await runner.patchTrace(build.id, build.token, Buffer.byteLength(trace), '')).status, 202, 'a keep-alive appends nothing');
    const upload = await runner.uploadArtifacts(build.id, build.token, { randomBytes: 4096 });
    assert.equal(upload.status, 201);
    const download = await world.api.request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/artifacts`);
    assert.equal(download.status, 200);
    now = await scrape();
    assert.equal(delta(now, 'coordinator_trace_bytes_appended_total'), Buffer.byteLength(trace));
    assert.equal(delta(now, 'coordinator_artifact_bytes_stored_total'), 4096);
    assert.equal(delta(now, 'coordinator_artifact_bytes_served_total'), 4096);
    assert.equal(delta(now, ...requests('appendBuildTrace', 202)), 2);

    // Paused: the runner's requests are counted as such.
    const paused = await world.api.request('PUT', `/api/v4/runners/${runner.registration!.id as number}`, { active: false });
    assert.equal(paused.status, 200);
    assert.equal(await runner.requestBuild(), null);
    assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
    assert.equal((await fetch(`${world.coordinator.url}/no/such/route`)).status, 404);
    now = await scrape();
    assert.equal(delta(now, 'coordinator_build_requests_total', { api: 'v1', outcome: 'paused' }), 1);
    assert.equal(delta(now, ...requests('registerBuildJson', 404)), 1);
    assert.equal(delta(now, 'coordinator_builds', { status: 'running' }), 0);
    assert.equal(delta(now, 'coordinator_builds', { status: 'success' }), 1);
    assert.equal(delta(now, ...requests('unknown', 404)), 1, 'a request with no route counts as unknown');
    const durations = now.histogram('coordinator_http_request_duration_seconds', { operation: 'updateBuildJson' });
    assert.equal(durations.count - start.histogram('coordinator_http_request_duration_seconds', { operation: 'updateBuildJson' }).count, 1);
  });

  test('the exposition parser used here refuses what Prometheus would refuse', () => {
    const histogram = '# HELP h_seconds H.\n# TYPE h_seconds histogram\nh_seconds_bucket{api="v1",le="+Inf"} 2\nh_seconds_sum{api="v1"} 0.5\nh_seconds_count{api="v1"} 2\n';
    assert.deepEqual(parseMetrics(histogram).histogram('h_seconds', { api: 'v1' }), { count: 2, sum: 0.5 });
    for (const broken of [
      'x 1\n', // a sample of no declared family
      '# HELP x X.\n# TYPE x counter\nx one\n',
      '# HELP x X.\n# TYPE x counter\nx{a="1",a="2"} 1\n',
      '# HELP x X.\n# TYPE x counter\nx{a=1} 1\n',
      '# TYPE x counter\nx 1\n', // no HELP
      '# HELP x X.\n# TYPE x counter\nx 1', // no final newline
    ]) {
      assert.throws(() => parseMetrics(broken), Error, broken);
    }
  });

  test('with METRICS_PORT the metrics move to a port of their own', async () => {
    const coordinator = await startTestCoordinator({ METRICS_PORT: '0' });
    try {
      assert.ok(coordinator.metricsUrl && coordinator.metricsUrl !== coordinator.url);
      const onMain = await fetch(`${coordinator.url}/metrics`);
      assert.equal(onMain.status, 404);
      assert.equal(onMain.headers.get('content-type'), 'application/json');
      await fetch(`${coordinator.url}/-/health`);
      const own = await fetch(`${coordinator.metricsUrl}/metrics`);
      assert.equal(own.status, 200);
      const metrics = parseMetrics(await own.text());
      assert.equal(metrics.value(...requests('getHealth', 200)), 1);
      assert.equal(metrics.value(...requests('getMetrics', 404)), 1);
      const elsewhere = await fetch(`${coordinator.metricsUrl}/api/v4/projects`);
      assert.equal(elsewhere.status, 404, 'the metrics port serves nothing else');
    } finally {
      await coordinator.stop();
    }
  });
});
