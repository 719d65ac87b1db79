// The request log, black-box: the real server process (src/server.ts) with its stdout and stderr
// captured whole. One pino JSON line per request with the request id, operationId, status,
// duration, runner id and build id; and no token anywhere in the log, however it was sent.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startTestCoordinator } from './support/coordinator.js';
import { startServerProcess, type StartedProcess } from './support/processes.js';
import { RunnerSimulator } from './support/runnerSimulator.js';
import { filesContaining } from './support/secretScan.js';
import { UserApi } from './support/userApi.js';

// Configured, so that the server prints none of them at start (the one exception to "never a
// token in the log" is a token the server generates on first start: see README and startup.test.ts).
const REGISTRATION_TOKEN = 'registration-token-4b1d2c0f9e';
const ADMIN_TOKEN = 'admin-token-7c6e5a4b3d2f1e0d';
const VIEWER_TOKEN = 'viewer-token-0a9b8c7d6e5f4a3b';
const SECRET_VALUE = 'secret-variable-value-5e4d3c2b';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  operationId?: string;
  runnerId?: number;
  buildId?: number;
  durationMs?: number;
  res?: { statusCode: number };
  req?: { method: string; url: string; headers: Record<string, string> };
}

const started: StartedProcess[] = [];
const dataDirs: string[] = [];

async function startServer(env: Record<string, string> = {}): Promise<{ url: string; server: StartedProcess; dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-logs-'));
  dataDirs.push(dataDir);
  const { process: server, url } = await startServerProcess({
    DATA_DIR: dataDir,
    CI_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
    CI_ADMIN_TOKEN: ADMIN_TOKEN,
    CI_VIEWER_TOKEN: VIEWER_TOKEN,
    LOG_LEVEL: 'trace',
    LOG_FORMAT: 'json',
    CI_LONG_POLL_SECONDS: '0',
    ...env,
  });
  started.push(server);
  return { url, server, dataDir };
}

/** Stops the server (so every line is flushed) and returns its whole output. */
async function stopAndRead(server: StartedProcess): Promise<string> {
  await server.stop();
  return server.output();
}

function jsonLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

describe('request logs', () => {
  after(async () => {
    for (const server of started) await server.stop();
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a scripted run through every kind of token leaves none of them in the log, the database file, its WAL or DATA_DIR', async () => {
    const { url, server, dataDir } = await startServer();
    const api = new UserApi(url, ADMIN_TOKEN);
    const viewer = new UserApi(url, VIEWER_TOKEN);
    const issued = new Map<string, string>([
      ['registration token', REGISTRATION_TOKEN],
      ['admin token', ADMIN_TOKEN],
      ['viewer token', VIEWER_TOKEN],
      ['secret variable value', SECRET_VALUE],
    ]);

    const project = await api.createProject({ name: 'logged', ci_config: 'build:\n  script: make\n  artifacts:\n    paths: [out/]\n' });
    issued.set('project runners token', project.runners_token);
    assert.equal((await api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'DEPLOY_KEY', value: SECRET_VALUE })).status, 201);
    const trigger = await api.request<{ token: string }>('POST', `/api/v4/projects/${project.id}/triggers`, { description: 'nightly' });
    issued.set('trigger token', trigger.body.token);

    // A shared runner (registration token) and a specific one (the project's runners token).
    const shared = await RunnerSimulator.register(url, REGISTRATION_TOKEN, { runUntagged: true });
    const specific = await RunnerSimulator.register(url, project.runners_token, { runUntagged: true });
    issued.set('shared runner token', shared.token);
    issued.set('specific runner token', specific.token);
    // A runner authentication token (v4, GitLab 16's way), used once to verify.
    const created = await api.request<{ token: string }>('POST', '/api/v4/user/runners', { runner_type: 'instance_type', run_untagged: true });
    assert.equal(created.status, 201, created.text);
    issued.set('glrt- runner authentication token', created.body.token);
    const verified = await fetch(`${url}/api/v4/runners/verify`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: created.body.token }) });
    assert.equal(verified.status, 200);

    await api.createPipeline(project.id, { ci_config: 'build:\n  script: make\n  artifacts:\n    paths: [out/]\n' });
    const build = await specific.requestBuild();
    assert.ok(build);
    issued.set('build token', build.token);
    // The runner's build, with the token in every place it can travel: headers, bodies, queries.
    const result = await specific.runBuild(build, {
      output: ['Running with gitlab-ci-multi-runner 1.11.5\n', `$ echo $DEPLOY_KEY\n${SECRET_VALUE}\n`],
      artifacts: { files: { 'out/app.bin': Buffer.from('binary') } },
    });
    assert.equal(result.state, 'success');
    assert.equal((await fetch(`${url}/ci/api/v1/builds/${build.id}/artifacts?token=${build.token}`)).status, 200);
    assert.equal((await fetch(`${url}/ci/api/v1/builds/${build.id}/artifacts?token=${shared.token}`)).status, 403);
    assert.equal((await api.request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/trace`)).status, 200);

    // Triggers: JSON body, urlencoded form, and GitLab 8.x's legacy endpoint.
    const triggered = await fetch(`${url}/api/v4/projects/${project.id}/trigger/pipeline`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: trigger.body.token, ref: 'master' }),
    });
    assert.equal(triggered.status, 201);
    const legacy = await fetch(`${url}/ci/api/v1/projects/${project.id}/refs/master/trigger`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=${trigger.body.token}`,
    });
    assert.equal(legacy.status, 201);

    // The viewer and the web session: header, sign-in body, cookie and CSRF token.
    assert.equal((await viewer.request('GET', `/api/v4/projects/${project.id}`)).status, 200);
    assert.equal((await viewer.request('POST', `/api/v4/projects/${project.id}/jobs/${build.id}/retry`)).status, 403);
    const signIn = await fetch(`${url}/-/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: ADMIN_TOKEN }) });
    const { csrf_token: csrf } = (await signIn.json()) as { csrf_token: string };
    issued.set('CSRF token', csrf);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    const retried = await fetch(`${url}/api/v4/projects/${project.id}/jobs/${build.id}/retry`, { method: 'POST', headers: { Cookie: cookie, 'X-CSRF-Token': csrf } });
    assert.equal(retried.status, 201);

    // Tokens where they do not belong: still never logged.
    assert.equal((await fetch(`${url}/api/v4/projects/${project.id}?private_token=${ADMIN_TOKEN}`)).status, 401);
    assert.equal((await fetch(`${url}/api/v4/projects/${project.id}`, { headers: { 'PRIVATE-TOKEN': shared.token } })).status, 401);
    assert.equal((await fetch(`${url}/api/v4/projects/${project.id}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 401);
    assert.equal((await fetch(`${url}/no/such/route?token=${build.token}`)).status, 404);
    assert.equal(await shared.unregister(), true);
    shared.close();
    specific.close();

    // Issue 9: no token at rest in plain text, while the server runs (the WAL holds the recent
    // writes) and after it stopped (the WAL folded into the file). Secret variable values are
    // stored as given (they are not tokens) and are left out.
    const atRest = new Map([...issued].filter(([what]) => what !== 'secret variable value'));
    const databaseFile = path.join(dataDir, 'coordinator.sqlite3');
    assert.ok(fs.statSync(`${databaseFile}-wal`).size > 0, 'the WAL holds the run');
    assert.deepEqual(filesContaining([databaseFile, `${databaseFile}-wal`, dataDir], atRest), [], 'while running');

    const output = await stopAndRead(server);
    assert.deepEqual(filesContaining([dataDir], atRest), [], 'after stopping');
    const lines = jsonLines(output);
    assert.ok(lines.filter((line) => line.reqId !== undefined).length >= 25, `a line per request: ${lines.length}`);
    for (const [what, token] of issued) {
      assert.ok(token.length >= 8, what);
      assert.ok(!output.includes(token), `the ${what} appears in the log:\n${output.split('\n').find((line) => line.includes(token))}`);
    }
    // The redaction is visible where tokens were sent.
    const queried = lines.find((line) => line.req?.url.startsWith(`/ci/api/v1/builds/${build.id}/artifacts?token=`));
    assert.equal(queried?.req?.url, `/ci/api/v1/builds/${build.id}/artifacts?token=[Redacted]`);
    const patched = lines.find((line) => line.operationId === 'appendBuildTrace');
    assert.equal(patched?.req?.headers['build-token'], '[Redacted]');
  });

  test('each request is one line: request id, operationId, status, duration, runner and build ids', async () => {
    const { url, server } = await startServer();
    const api = new UserApi(url, ADMIN_TOKEN);
    const project = await api.createProject();
    const runner = await RunnerSimulator.register(url, project.runners_token, { runUntagged: true });
    await api.createPipeline(project.id, { ci_config: 'build:\n  script: make\n' });
    const build = await runner.requestBuild();
    assert.ok(build);
    assert.equal((await runner.patchTrace(build.id, build.token, 0, 'hello\n')).status, 202);
    const tagged = await fetch(`${url}/api/v4/projects/${project.id}/jobs/${build.id}`, { headers: { 'PRIVATE-TOKEN': ADMIN_TOKEN, 'X-Request-Id': 'lb-1234' } });
    assert.equal(tagged.headers.get('x-request-id'), 'lb-1234', 'a request id from a proxy is kept');
    const untagged = await fetch(`${url}/-/health`);
    const generatedId = untagged.headers.get('x-request-id');
    assert.match(generatedId ?? '', /^[0-9a-f-]{36}$/);
    runner.close();

    const lines = jsonLines(await stopAndRead(server));
    const requestLines = lines.filter((line) => line.reqId !== undefined);
    const claim = requestLines.find((line) => line.operationId === 'registerBuildJson');
    assert.equal(claim?.res?.statusCode, 201);
    assert.equal(claim?.runnerId, runner.registration!.id);
    assert.equal(claim?.buildId, build.id);
    assert.equal(typeof claim?.durationMs, 'number');
    assert.equal(claim?.msg, 'POST /ci/api/v1/builds/register.json 201');
    const patch = requestLines.find((line) => line.operationId === 'appendBuildTrace');
    assert.deepEqual([patch?.runnerId, patch?.buildId, patch?.res?.statusCode], [runner.registration!.id, build.id, 202]);
    const job = requestLines.find((line) => line.reqId === 'lb-1234');
    assert.deepEqual([job?.operationId, job?.buildId, job?.res?.statusCode], ['getJob', build.id, 200]);
    assert.equal(requestLines.filter((line) => line.reqId === generatedId).length, 1, 'exactly one line per request');
    assert.equal(requestLines.find((line) => line.reqId === generatedId)?.operationId, 'getHealth');
  });

  test('LOG_LEVEL=warn leaves out the request lines; LOG_FORMAT=pretty is for people', async () => {
    const quiet = await startServer({ LOG_LEVEL: 'warn' });
    assert.equal((await fetch(`${quiet.url}/-/health`)).status, 200);
    const quietOutput = await stopAndRead(quiet.server);
    assert.equal(jsonLines(quietOutput).filter((line) => line.reqId !== undefined).length, 0, quietOutput);

    const pretty = await startServer({ LOG_FORMAT: 'pretty', LOG_LEVEL: 'info' });
    assert.equal((await fetch(`${pretty.url}/-/health`)).status, 200);
    const prettyOutput = await stopAndRead(pretty.server);
    assert.equal(jsonLines(prettyOutput).length, 0, 'no JSON lines');
    assert.match(prettyOutput, /INFO.*GET \/-\/health 200/);
    assert.match(prettyOutput, /Coordinator listening on/);
  });
});

describe('errors in the log', () => {
  test('a failed query is logged with its SQL but without its values (a token here)', async () => {
    const lines: string[] = [];
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const coordinator = await startTestCoordinator({}, undefined, { logTo: capture });
    try {
      // The runners table gone under the server: the token lookup fails in the database.
      await coordinator.db.raw('ALTER TABLE runners RENAME TO runners_elsewhere');
      const runnerToken = 'a-runner-token-that-must-not-be-logged';
      const reply = await fetch(`${coordinator.url}/ci/api/v1/builds/register.json`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token: runnerToken }),
      });
      assert.equal(reply.status, 500);
      assert.deepEqual(await reply.json(), { message: '500 Internal Server Error' });
      await coordinator.db.raw('ALTER TABLE runners_elsewhere RENAME TO runners');
      const log = lines.join('');
      // SQLite's words, or PostgreSQL's (its quotes escaped in the JSON line).
      assert.match(log, /no such table: runners|relation \\"runners\\" does not exist/);
      assert.ok(!log.includes(runnerToken), log);
    } finally {
      await coordinator.stop();
    }
  });
});
