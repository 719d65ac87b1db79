// Issue 6, acceptance: every `curl` example of GitLab 8.x's Builds API documentation
// (doc/ci/api/builds.md, which points to doc/api/ci/builds.md; and doc/api/ci/runners.md, whose
// two calls a runner needs first), run with the real curl binary against a real server, as
// written except for the host, the tokens, the build id and the file path. Then the same calls
// with their parameters as a urlencoded form, a JSON body and the query string: the same results.
//
// Two examples do not do, as written, what their text says, because of curl itself; both are
// run as written (and answered as GitLab answered them) and as meant:
// - the trace PATCH writes its headers `BUILD-TOKEN=...` and `Content-Range=...`: curl sends no
//   header without a colon, so the call as written carries no token (403). As meant (and as the
//   issue spells it): `BUILD-TOKEN: ...`, `Content-Range: 0-21`.
// - the download has `--form` and no `--request`: curl then POSTs, so the call as written is an
//   upload without a file (400 "Missing artifacts file!"; GitLab, behind no Workhorse, said 403).
//   As meant: the same with `--request GET` (Rack read a GET's form body).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireCurl, runCurl, type CurlReply } from './support/curl.js';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { zipToBuffer } from './support/zip.js';

/** The examples, verbatim from the documentation (GitLab CE 8.15). */
const DOCUMENTED = {
  registerRunner: 'curl --request POST "https://gitlab.example.com/ci/api/v1/runners/register" --form "token=t0k3n"',
  registerBuild: 'curl --request POST "https://gitlab.example.com/ci/api/v1/builds/register" --form "token=t0k3n"',
  updateBuild: 'curl --request PUT "https://gitlab.example.com/ci/api/v1/builds/1234" --form "token=t0k3n" --form "state=running" --form "trace=Running git clone...\\n"',
  appendTrace: 'curl --request PATCH "https://gitlab.example.com/ci/api/v1/builds/1234/trace.txt" --header "BUILD-TOKEN=build_t0k3n" --header "Content-Range=0-21" --data "Running git clone...\\n"',
  uploadArtifacts: 'curl --request POST "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts" --form "token=build_t0k3n" --form "file=@/path/to/file"',
  downloadArtifacts: 'curl "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts" --form "token=build_t0k3n"',
  deleteArtifacts: 'curl --request DELETE "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts" --form "token=build_t0k3n"',
  deleteRunner: 'curl --request DELETE "https://gitlab.example.com/ci/api/v1/runners/delete" --form "token=t0k3n"',
};

/** The two examples as their text means them (see the top of this file). */
const AS_MEANT = {
  appendTrace: DOCUMENTED.appendTrace.replace('"BUILD-TOKEN=build_t0k3n"', '"BUILD-TOKEN: build_t0k3n"').replace('"Content-Range=0-21"', '"Content-Range: 0-21"'),
  downloadArtifacts: DOCUMENTED.downloadArtifacts.replace('curl ', 'curl --request GET '),
};

/** A runner's User-Agent: "no build" is 204 for gitlab-ci-multi-runner >= 1.3.0, 404 for anything else (curl). */
const AS_A_RUNNER = ' --user-agent "gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)"';

/** The trace of both examples: `\n` inside double quotes is not a newline to the shell, so 22 bytes. */
const DOCUMENTED_TRACE = 'Running git clone...\\n';

type Form = 'multipart' | 'urlencoded' | 'json' | 'query';

/**
 * The command with its `--form "name=value"` text fields moved to another form: `--data-urlencode`,
 * one JSON body, or the URL's query string. File parts stay multipart (only the query form can
 * take the other fields away from them).
 */
function inForm(command: string, form: Form): string {
  if (form === 'multipart') return command;
  const field = /\s--form "([^"=]+)=([^"@][^"]*)"/g;
  const fields = [...command.matchAll(field)].map((match) => [match[1]!, match[2]!] as const);
  const hasFile = command.includes('=@');
  if (fields.length === 0 || (hasFile && form !== 'query')) return command;
  const rest = command.replace(field, '');
  switch (form) {
    case 'urlencoded':
      return `${rest}${fields.map(([name, value]) => ` --data-urlencode "${name}=${value}"`).join('')}`;
    case 'json':
      return `${rest} --header "Content-Type: application/json" --data '${JSON.stringify(Object.fromEntries(fields))}'`;
    case 'query':
      return rest.replace(/"(https?:\/\/[^"]+)"/, (_, url: string) => `"${url}?${new URLSearchParams(fields.map(([n, v]) => [n, v])).toString()}"`);
  }
}

interface Step {
  call: string;
  status: number;
  /** The documented headers, where the call has them. */
  headers: Record<string, string | undefined>;
  body: unknown;
}

describe('the Builds API documentation, run with curl', () => {
  let world: BuildWorld;
  let dir: string;
  let archivePath: string;
  let archive: Buffer;
  before(async () => {
    await requireCurl();
    world = await startBuildWorld();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'builds-api-doc-'));
    archive = await zipToBuffer({ 'out/rspec.xml': '<testsuite tests="1" failures="0"/>\n' });
    archivePath = path.join(dir, 'artifacts.zip');
    fs.writeFileSync(archivePath, archive);
  });
  after(async () => {
    await world?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The host, tokens, build id and file path of this server; `build_t0k3n` before `t0k3n`, which it contains. */
  function localize(command: string, values: { token: string; buildToken?: string; buildId?: number }): string {
    return command
      .replace('https://gitlab.example.com', world.coordinator.url)
      .replaceAll('build_t0k3n', values.buildToken ?? 'build_t0k3n')
      .replaceAll('t0k3n', values.token)
      .replaceAll('/builds/1234', `/builds/${values.buildId ?? 1234}`)
      .replaceAll('/path/to/file', archivePath);
  }

  /** A project with one job, nobody to run it yet, and the documented calls made on it in `form`. */
  async function documentedSession(form: Form): Promise<Step[]> {
    const ciConfig = 'rspec:\n  script: rspec\n  artifacts:\n    paths: [out/]\n';
    const project = await world.api.createProject({ name: `docs-${form}`, ci_config: ciConfig, shared_runners_enabled: false });
    await world.api.createPipeline(project.id, { ci_config: ciConfig });
    const steps: Step[] = [];
    const curl = async (call: string, command: string, values: Parameters<typeof localize>[1], summary: (reply: CurlReply) => unknown): Promise<CurlReply> => {
      const reply = await runCurl(localize(command, values), dir);
      const headers = Object.fromEntries(['content-type', 'build-status', 'range', 'content-disposition', 'content-transfer-encoding'].map((name) => [name, reply.headers[name]]));
      steps.push({ call, status: reply.status, headers, body: summary(reply) });
      return reply;
    };
    const json = (reply: CurlReply) => JSON.parse(reply.body.toString()) as Record<string, unknown>;
    const text = (reply: CurlReply) => reply.body.toString();

    // The project's runners token registers a specific runner of it (runners.md).
    const registered = json(await curl('runners/register', inForm(DOCUMENTED.registerRunner, form), { token: project.runners_token }, (r) => Object.keys(json(r)).sort()));
    const runner = { token: String(registered.token) };
    const assigned = await curl('builds/register', inForm(DOCUMENTED.registerBuild, form), runner, (r) => {
      const build = json(r);
      return { name: build.name, status: build.status, stage: build.stage, ref: build.ref };
    });
    const build = { ...runner, buildId: Number(json(assigned).id), buildToken: String(json(assigned).token) };
    await curl('builds/register, nothing left, curl', inForm(DOCUMENTED.registerBuild, form), runner, text);
    await curl('builds/register, nothing left, a runner', inForm(DOCUMENTED.registerBuild, form) + AS_A_RUNNER, runner, text);
    // "404 ... when the runner is set to paused", whatever its User-Agent.
    await pauseRunner(Number(registered.id), true);
    await curl('builds/register, paused, a runner', inForm(DOCUMENTED.registerBuild, form) + AS_A_RUNNER, runner, text);
    await pauseRunner(Number(registered.id), false);

    await curl('trace PATCH as written', DOCUMENTED.appendTrace, build, text);
    await curl('trace PATCH as meant', AS_MEANT.appendTrace, build, text);
    await curl('trace PATCH again from 0', AS_MEANT.appendTrace, build, text);
    await curl('PUT builds/:id', inForm(DOCUMENTED.updateBuild, form), build, text);
    steps.push({ call: 'the stored trace', status: 0, headers: {}, body: await storedTrace(project.id, build.buildId) });

    await curl('artifacts upload', inForm(DOCUMENTED.uploadArtifacts, form), build, (r) => {
      const details = json(r) as { artifacts_file?: unknown };
      return details.artifacts_file;
    });
    await curl('artifacts download as written', DOCUMENTED.downloadArtifacts, build, text);
    await curl('artifacts download as meant', inForm(AS_MEANT.downloadArtifacts, form), build, (r) => (r.body.equals(archive) ? 'the archive uploaded, byte for byte' : r.body));
    await curl('artifacts delete', inForm(DOCUMENTED.deleteArtifacts, form), build, text);
    await curl('artifacts download after the delete', inForm(AS_MEANT.downloadArtifacts, form), build, text);

    await curl('runners/delete', inForm(DOCUMENTED.deleteRunner, form), runner, (r) => Object.keys(json(r)).sort());
    await curl('builds/register, runner deleted', inForm(DOCUMENTED.registerBuild, form), runner, text);
    return steps;
  }

  async function pauseRunner(id: number, paused: boolean): Promise<void> {
    const reply = await world.api.request('PUT', `/api/v4/runners/${id}`, { active: !paused });
    assert.equal(reply.status, 200, reply.text);
  }

  async function storedTrace(projectId: number, buildId: number): Promise<string> {
    const reply = await world.api.request('GET', `/api/v4/projects/${projectId}/jobs/${buildId}/trace`);
    return reply.text;
  }

  const json = 'application/json';
  const none = { 'content-type': undefined, 'build-status': undefined, range: undefined, 'content-disposition': undefined, 'content-transfer-encoding': undefined };
  const jsonReply = { ...none, 'content-type': json };
  const step = (call: string, status: number, headers: Step['headers'], body: unknown): Step => ({ call, status, headers, body });

  /** What the documentation says (statuses, Build-Status and Range), and GitLab's bodies. */
  const EXPECTED = (archiveSize: number): Step[] => [
    step('runners/register', 201, jsonReply, ['id', 'token']),
    step('builds/register', 201, jsonReply, { name: 'rspec', status: 'running', stage: 'test', ref: 'master' }),
    step('builds/register, nothing left, curl', 404, jsonReply, '{"message":"404 Not Found"}'),
    step('builds/register, nothing left, a runner', 204, none, ''),
    step('builds/register, paused, a runner', 404, jsonReply, '{"message":"404 Not Found"}'),
    step('trace PATCH as written', 403, jsonReply, '{"message":"403 Forbidden"}'),
    step('trace PATCH as meant', 202, { ...none, 'content-type': 'text/plain', 'build-status': 'running', range: '0-22' }, '0-22'),
    step('trace PATCH again from 0', 416, { ...jsonReply, range: '0-22' }, '{"message":"416 Range Not Satisfiable"}'),
    // `state=running` is not a final state: nothing to report (null); the trace is replaced.
    step('PUT builds/:id', 200, jsonReply, 'null'),
    step('the stored trace', 0, {}, DOCUMENTED_TRACE),
    step('artifacts upload', 201, jsonReply, { filename: 'artifacts.zip', size: archiveSize }),
    step('artifacts download as written', 400, jsonReply, '{"message":"400 (Bad request) \\"Missing artifacts file!\\" not given"}'),
    step('artifacts download as meant', 200, { ...none, 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename=artifacts.zip', 'content-transfer-encoding': 'binary' }, 'the archive uploaded, byte for byte'),
    step('artifacts delete', 200, jsonReply, 'true'),
    step('artifacts download after the delete', 404, jsonReply, '{"message":"404 Not Found"}'),
    step('runners/delete', 200, jsonReply, ['id', 'token']),
    step('builds/register, runner deleted', 403, jsonReply, '{"message":"403 Forbidden"}'),
  ];

  test('every example as written (multipart, `curl --form`): the documented statuses and headers', async () => {
    assert.deepEqual(await documentedSession('multipart'), EXPECTED(archive.length));
  });

  for (const form of ['urlencoded', 'json', 'query'] as const) {
    test(`the same calls with their parameters as ${form === 'query' ? 'the query string' : form === 'json' ? 'a JSON body' : 'a urlencoded form'}: the same results`, async () => {
      assert.deepEqual(await documentedSession(form), EXPECTED(archive.length));
    });
  }

  test('the commands of the other forms are what they say', () => {
    assert.equal(
      inForm(DOCUMENTED.updateBuild, 'urlencoded'),
      'curl --request PUT "https://gitlab.example.com/ci/api/v1/builds/1234" --data-urlencode "token=t0k3n" --data-urlencode "state=running" --data-urlencode "trace=Running git clone...\\n"',
    );
    assert.equal(
      inForm(DOCUMENTED.updateBuild, 'json'),
      `curl --request PUT "https://gitlab.example.com/ci/api/v1/builds/1234" --header "Content-Type: application/json" --data '{"token":"t0k3n","state":"running","trace":"Running git clone...\\\\n"}'`,
    );
    assert.equal(inForm(DOCUMENTED.deleteArtifacts, 'query'), 'curl --request DELETE "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts?token=build_t0k3n"');
    assert.equal(inForm(DOCUMENTED.uploadArtifacts, 'query'), 'curl --request POST "https://gitlab.example.com/ci/api/v1/builds/1234/artifacts?token=build_t0k3n" --form "file=@/path/to/file"');
    assert.equal(inForm(DOCUMENTED.uploadArtifacts, 'json'), DOCUMENTED.uploadArtifacts);
  });
});
