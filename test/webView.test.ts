// The web view end to end, in Debian's Chromium driven by playwright-core, against a real server
// and a simulated runner: sign-in, projects, a pipeline's stages as columns, a job's trace
// following each PATCH live in colour with GitLab's folding, artifacts download, cancel (the
// runner is told to stop), retry and play; a viewer session sees no action buttons and is
// refused if it posts anyway. Screenshots go to test-results/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshotPath, type Browser } from './support/browser.js';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';

const VIEWER_TOKEN = 'viewer-token-for-the-browser';
/** The acceptance: each PATCH's lines are on the page within this long of the PATCH's answer. */
const LIVE_WITHIN_MS = 1000;

const PIPELINE = `
stages: [build, test, deploy]
compile:
  stage: build
  script: make
  artifacts:
    paths: [out/]
rspec:
  stage: test
  script: rspec
deploy:
  stage: deploy
  script: cap deploy
`;

/** What rspec prints, one element per PATCH: colours, and a section GitLab folds. */
const RSPEC_OUTPUT = [
  'Running with gitlab-ci-multi-runner 1.11.5 (cbfcb5c8)\nsection_start:1482494400:bundle_install\r\x1b[0K\x1b[32;1m$ bundle install\x1b[0;m\n',
  'Installing rake 12.0.0\nInstalling rspec 3.5.0\nsection_end:1482494412:bundle_install\r\x1b[0K\n',
  '\x1b[32;1m$ rspec\x1b[0;m\n\x1b[31mFailures:\x1b[0m\n  1) Coordinator streams the trace\n',
  'this line is sent after the cancel\n',
];
/** A piece of text that appears on the page once each PATCH has been shown. */
const SHOWN_AFTER = ['$ bundle install', 'Installing rspec 3.5.0', '1) Coordinator streams the trace'];

describe('web view in Chromium', () => {
  let world: BuildWorld;
  let browser: Browser;
  let page: Page;
  before(async () => {
    world = await startBuildWorld({ CI_VIEWER_TOKEN: VIEWER_TOKEN });
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });
  after(async () => {
    await browser?.close();
    await world?.stop();
  });

  const open = (hash: string) => page.goto(`${world.coordinator.url}/#${hash}`);
  const jobStatus = async (projectId: number, jobId: number) =>
    (await world.api.request<{ status: string }>('GET', `/api/v4/projects/${projectId}/jobs/${jobId}`)).body.status;
  const signIn = async (token: string) => {
    await page.goto(`${world.coordinator.url}/`);
    await page.fill('form.sign-in input[name=token]', token);
    await page.click('form.sign-in button[type=submit]');
    await page.waitForSelector('#session .role');
  };

  test('an administrator follows a job live, folds a section, downloads artifacts, cancels, retries and plays', async (t) => {
    const { project, pipeline, runner } = await world.builds.prepare(PIPELINE, 'browser-runner');
    const manual = await world.api.createProject({ name: 'manual-deploys' });
    const manualPipeline = await world.api.createPipeline(manual.id, { ci_config: 'production:\n  script: deploy\n  when: manual\n' });

    await signIn(world.coordinator.adminToken);
    assert.equal(await page.getAttribute('#session .role', 'data-role'), 'admin');
    await page.waitForSelector(`a[href="#/projects/${project.id}"]`);

    // compile runs and succeeds with an archive; rspec is taken and runs.
    const compile = await runner.requestBuild();
    assert.ok(compile);
    const compiled = await runner.runBuild(compile, { output: ['$ make\n'], artifacts: { files: { 'out/app.bin': Buffer.from('the binary') } } });
    assert.equal(compiled.state, 'success');
    const rspec = await runner.requestBuild();
    assert.ok(rspec && rspec.name === 'rspec');

    await open(`/projects/${project.id}/pipelines/${pipeline.id}`);
    await page.waitForSelector('.stages .stage[data-stage="deploy"]');
    assert.deepEqual(await page.$$eval('.stages .stage', (columns) => columns.map((column) => column.getAttribute('data-stage'))), ['build', 'test', 'deploy']);
    const jobClass = (name: string) => page.getAttribute(`a.job[data-job="${name}"]`, 'class');
    assert.match((await jobClass('compile')) ?? '', /status-success/);
    assert.match((await jobClass('rspec')) ?? '', /status-running/);
    assert.match((await jobClass('deploy')) ?? '', /status-created/);
    const colourOf = (name: string) => page.$eval(`a.job[data-job="${name}"]`, (job) => getComputedStyle(job).borderLeftColor);
    assert.notEqual(await colourOf('compile'), await colourOf('rspec'), 'jobs are coloured by status');
    await page.screenshot({ path: screenshotPath('pipeline.png'), fullPage: true });

    // The compile job's page offers its archive.
    await open(`/projects/${project.id}/jobs/${compile.id}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a.button:has-text("Download artifacts")')]);
    const downloaded = await download.createReadStream();
    const chunks: Buffer[] = [];
    for await (const chunk of downloaded) chunks.push(chunk as Buffer);
    const archive = await fetch(`${world.coordinator.url}/api/v4/projects/${project.id}/jobs/${compile.id}/artifacts`, {
      headers: { 'PRIVATE-TOKEN': world.coordinator.adminToken },
    });
    assert.equal(archive.status, 200);
    const stored = Buffer.from(await archive.arrayBuffer());
    assert.ok(stored.length > 0);
    assert.ok(Buffer.concat(chunks).equals(stored), 'the browser downloaded the stored archive');
    assert.equal(download.suggestedFilename(), 'artifacts.zip');

    // rspec's page follows the trace while the runner sends it.
    await open(`/projects/${project.id}/pipelines/${pipeline.id}`);
    await page.click('a.job[data-job="rspec"]');
    await page.waitForSelector('pre#trace[data-state="following"]');
    assert.ok(await page.$('button.action[data-action="cancel"]'), 'an administrator may cancel a running job');
    const latencies: number[] = [];
    const run = await runner.runBuild(rspec, {
      output: RSPEC_OUTPUT,
      afterTick: async (tick, state) => {
        if (tick >= SHOWN_AFTER.length) return;
        assert.equal(state, 'succeeded');
        const patched = Date.now();
        await page.waitForFunction((text) => document.getElementById('trace')?.textContent?.includes(text), SHOWN_AFTER[tick]!, { timeout: 30_000 });
        latencies.push(Date.now() - patched);
        if (tick === 0) {
          const colour = await page.$eval('#trace span.ansi-green-fg', (span) => [span.textContent, getComputedStyle(span).color]);
          assert.deepEqual(colour, ['$ bundle install', 'rgb(78, 194, 78)'], 'ANSI colours are drawn');
        }
        if (tick === 1) {
          // GitLab's section: the header line is the summary, its duration is shown, and it folds.
          const section = page.locator('#trace details.section[data-section="bundle_install"]');
          assert.equal(await section.locator('summary .section-duration').textContent(), '12s');
          assert.ok(await page.isVisible('text=Installing rake 12.0.0'));
          await section.locator('summary').click();
          assert.equal(await section.evaluate((details) => (details as HTMLDetailsElement).open), false);
          assert.ok(!(await page.isVisible('text=Installing rake 12.0.0')), 'folded');
          await section.locator('summary').click();
        }
        if (tick === 2) {
          assert.ok(await page.$('#trace span.ansi-red-fg'));
          await page.screenshot({ path: screenshotPath('job.png'), fullPage: true });
          await page.click('button.action[data-action="cancel"]');
          await page.waitForSelector('h1 .status[data-status="canceled"]');
          assert.equal(await jobStatus(project.id, rspec.id), 'canceled');
        }
      },
    });
    t.diagnostic(`PATCH to page: ${latencies.join(', ')} ms`);
    assert.deepEqual(
      latencies.map((ms) => ms <= LIVE_WITHIN_MS),
      SHOWN_AFTER.map(() => true),
      `each PATCH shown within ${LIVE_WITHIN_MS} ms: ${latencies.join(', ')} ms`,
    );
    // The runner's next PATCH was answered `Build-Status: canceled`: it stopped the build.
    assert.equal(run.state, 'canceled');
    assert.equal(run.failureReason, 'canceled by the coordinator');
    assert.equal(run.patches.at(-1)?.buildStatus, 'canceled');
    await page.waitForSelector('pre#trace[data-state="complete"]');

    // Retry: a new rspec, pending, shown on its own page.
    await page.click('button.action[data-action="retry"]');
    await page.waitForFunction((oldId) => !location.hash.endsWith(`/jobs/${oldId}`), rspec.id);
    const retriedId = Number(/\/jobs\/(\d+)$/.exec(await page.evaluate(() => location.hash))?.[1]);
    assert.ok(retriedId > rspec.id);
    await page.waitForSelector('h1 .status[data-status="pending"]');
    assert.equal(await jobStatus(project.id, retriedId), 'pending');

    // Play: a manual job waiting to be started.
    const [deployJob] = await world.api.listJobs(manual.id, manualPipeline.id);
    assert.ok(deployJob);
    await open(`/projects/${manual.id}/jobs/${deployJob.id}`);
    await page.click('button.action[data-action="play"]');
    await page.waitForSelector('h1 .status[data-status="pending"]');
    assert.equal(await jobStatus(manual.id, deployJob.id), 'pending');
  });

  test('a viewer session sees no action buttons and gets 403 when it posts anyway', async () => {
    const { project, pipeline, runner } = await world.builds.prepare('rspec:\n  script: rspec\n');
    const build = await runner.requestBuild();
    assert.ok(build);
    const manual = await world.api.createProject({ name: 'viewer-sees-manual' });
    const manualPipeline = await world.api.createPipeline(manual.id, { ci_config: 'production:\n  script: deploy\n  when: manual\n' });
    const [manualJob] = await world.api.listJobs(manual.id, manualPipeline.id);
    assert.ok(manualJob);

    await page.goto(`${world.coordinator.url}/`);
    if (await page.$('#session button')) {
      await page.click('#session button:has-text("Sign out")');
      await page.waitForSelector('form.sign-in');
    }
    await signIn(VIEWER_TOKEN);
    assert.equal(await page.getAttribute('#session .role', 'data-role'), 'viewer');

    await open(`/projects/${project.id}/pipelines/${pipeline.id}`);
    await page.waitForSelector('a.job[data-job="rspec"].status-running');
    assert.equal(await page.locator('button.action').count(), 0, 'no cancel on a running pipeline');
    await open(`/projects/${project.id}/jobs/${build.id}`);
    await page.waitForSelector('pre#trace[data-state="following"]');
    assert.equal(await page.locator('button.action').count(), 0, 'no cancel on a running job');
    assert.equal((await runner.patchTrace(build.id, build.token, 0, 'viewers see the trace too\n')).status, 202);
    await page.waitForFunction(() => document.getElementById('trace')?.textContent?.includes('viewers see the trace too'));
    await open(`/projects/${manual.id}/jobs/${manualJob.id}`);
    await page.waitForSelector('h1 .status');
    assert.equal(await page.locator('button.action').count(), 0, 'no play on a manual job');

    // Posting anyway, from the page, with the session cookie and its CSRF token.
    const refused = await page.evaluate(async ([projectId, jobId]) => {
      const session = (await (await fetch('/-/session')).json()) as { csrf_token: string };
      const reply = await fetch(`/api/v4/projects/${projectId}/jobs/${jobId}/cancel`, { method: 'POST', headers: { 'X-CSRF-Token': session.csrf_token } });
      return { status: reply.status, body: (await reply.json()) as { message: string } };
    }, [project.id, build.id] as const);
    assert.deepEqual(refused, { status: 403, body: { message: '403 Forbidden - the viewer token is read-only' } });
    assert.equal(await jobStatus(project.id, build.id), 'running');
    assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
  });

  test('the API reference renders openapi.yaml with our own Redoc bundle; nothing comes from elsewhere', async () => {
    const docs = await browser.context.newPage();
    const answered: string[] = [];
    const blocked: string[] = [];
    const problems: string[] = [];
    docs.on('response', (response) => answered.push(response.url()));
    docs.on('requestfailed', (request) => blocked.push(request.url()));
    docs.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    docs.on('pageerror', (error) => problems.push(error.message));
    try {
      await docs.goto(`${world.coordinator.url}/docs`);
      // Redoc draws the title and an entry per operation from the spec it fetched.
      await docs.waitForSelector('h1:has-text("GitLab-CI-compatible build coordinator")', { timeout: 60_000 });
      await docs.waitForSelector("h2:has-text(\"Follow a job's trace live\")");
      assert.ok(answered.some((url) => url === `${world.coordinator.url}/openapi.yaml`));
      const ours = (url: string) => url.startsWith(world.coordinator.url) || url.startsWith('data:') || url.startsWith('blob:');
      assert.deepEqual(answered.filter((url) => !ours(url)), [], 'every answer came from our server');
      // Redoc's sidebar shows Redocly's logo from their CDN: the page's Content-Security-Policy
      // refuses it before any connection is made, and Redoc then leaves the logo out.
      assert.deepEqual(blocked.filter((url) => !ours(url)), ['https://cdn.redoc.ly/redoc/logo-mini.svg']);
      assert.deepEqual(
        problems.filter((problem) => !problem.includes('https://cdn.redoc.ly/redoc/logo-mini.svg')),
        [],
        'no other errors: the policy lets Redoc itself run',
      );
    } finally {
      await docs.close();
    }
  });
});
