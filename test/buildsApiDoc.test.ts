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
import { AS_A_RUNNER, AS_MEANT, DOCUMENTED, DOCUMENTED_TRACE, inForm, localizeCommand, type Form, type Localization } from './support/buildsApiDoc.js';
import { requireCurl, runCurl, type CurlReply } from './support/curl.js';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { zipToBuffer } from './support/zip.js';

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

  const localize = (command: string, values: Omit<Localization, 'host' | 'filePath'>) => localizeCommand(command, { ...values, host: world.coordinator.url, filePath: archivePath });

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
