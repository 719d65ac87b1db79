// The runner API v4's artifacts (runner-protocol-v4.md §5; GitLab's jobs_artifacts_spec; the runner's
// TestArtifactsUpload / TestArtifactsDownload), against a real server and real files. Jobs are taken
// by v4 runners through the queue both APIs share (assignNextBuild: what POST /api/v4/jobs/request
// does), since this suite is about the artifacts endpoints.
//
// runner-protocol-v4.md §8 → here:
// | behaviour (§8.1 jobs_artifacts_spec, §8.2 TestArtifactsUpload / TestArtifactsDownload) | test                               |
// |----------------------------------------------------------------------------------------|------------------------------------|
// | authorize needs Workhorse headers; 413 for a large filesize                            | n/a: no Workhorse, so no authorize |
// |                                                                                        | (the runner never calls it, §5.1)  |
// | upload → 201; form field `file`                                                        | a v4 job uploads its archive ...   |
// | upload: 403 finished / missing job / wrong token; deleted project                      | refused uploads; project deleted   |
// | upload: 413 over the limit; 400 type/format errors                                     | refused uploads                    |
// | upload: 503 object storage error; 307 Location                                         | n/a: local files only              |
// | download → 200 with Content-Disposition                                                | a v4 job uploads its archive ...   |
// | download: 302 for direct_download on object storage                                    | n/a: 200 whatever direct_download  |
// | download: 401 invalid/missing token or non-running dependent job                       | downloads: ...                     |
// | download: 403 unrelated project or missing job; 404 no artifact                        | downloads: ...                     |
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { assignNextBuild, finishBuild } from '../src/domain/buildQueue.js';
import { systemClock } from '../src/domain/clock.js';
import { findBuild, type BuildRecord } from '../src/store/builds.js';
import { findRunner } from '../src/store/runners.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { RunnerApi } from './support/runnerApi.js';
import { downloadArtifactsV4, RunnerV4Api, uploadArtifactsV4 } from './support/runnerV4Api.js';
import { UserApi } from './support/userApi.js';
import { zipToBuffer } from './support/zip.js';

const TWO_STAGES = ['stages: [build, test]', 'compile:', '  stage: build', '  script: make', 'rspec:', '  stage: test', '  script: rspec', ''].join('\n');

describe('runner API v4: artifacts', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let v4: RunnerV4Api;
  let v1: RunnerApi;
  before(async () => {
    coordinator = await startTestCoordinator({ MAX_ARTIFACTS_SIZE_MB: '1' });
    api = new UserApi(coordinator.url, coordinator.adminToken);
    v4 = new RunnerV4Api(coordinator.url);
    v1 = new RunnerApi(coordinator.url);
  });
  after(() => coordinator.stop());

  /** A project of its own (shared runners off) with a pipeline, and a specific runner of `api` for it. */
  async function pipelineOn(apiVersion: 'v1' | 'v4') {
    const project = await api.createProject({ ci_config: TWO_STAGES, shared_runners_enabled: false });
    const registered = apiVersion === 'v4' ? await v4.registerRunner({ token: project.runners_token }) : await v1.registerRunner({ token: project.runners_token });
    const runner = await findRunner(coordinator.db, registered.id);
    assert.ok(runner);
    await api.createPipeline(project.id, { ci_config: TWO_STAGES });
    const take = async (): Promise<BuildRecord> => {
      const build = await assignNextBuild(coordinator.db, systemClock, runner);
      assert.ok(build, 'a build to take');
      return build;
    };
    const finish = async (build: BuildRecord) => {
      const current = await findBuild(coordinator.db, build.id);
      assert.ok(current && (await finishBuild(coordinator.db, systemClock, current, 'success')));
    };
    return { project, runner: registered, take, finish };
  }

  const rows = (buildId: number) => coordinator.db('job_artifacts').where({ build_id: buildId }).orderBy('file_type');
  const storedFiles = (buildId: number) => {
    const dir = path.join(coordinator.dataDir, 'artifacts', String(buildId));
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  };
  const tmpEntries = () => {
    const tmp = path.join(coordinator.dataDir, 'tmp');
    return fs.existsSync(tmp) ? fs.readdirSync(tmp) : [];
  };

  test('a v4 job uploads its archive chunked (201, body 201); the archive downloads byte for byte and shows in the job', async () => {
    const { project, take } = await pipelineOn('v4');
    const compile = await take();
    const zip = await zipToBuffer({ 'out/app': Buffer.alloc(200_000, 3), 'out/readme.txt': 'hi\n' });
    const reply = await uploadArtifactsV4(coordinator.url, compile.id, zip, { jobToken: compile.token, artifactType: 'archive', artifactFormat: 'zip', expireIn: '7d' });
    assert.equal(reply.status, 201, reply.text);
    assert.equal(reply.text, '201');
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    const [row] = await rows(compile.id);
    assert.equal(row.file_type, 'archive');
    assert.equal(row.file_format, 'zip');
    assert.equal(row.filename, 'artifacts.zip');
    assert.equal(Number(row.size), zip.length);
    const week = Date.parse(row.expire_at) - Date.now();
    assert.ok(week > 6.9 * 86_400_000 && week <= 7 * 86_400_000, row.expire_at);

    const download = await downloadArtifactsV4(v4, compile.id, compile.token);
    assert.equal(download.status, 200);
    assert.ok(download.body.equals(zip));
    assert.equal(download.headers['content-disposition'], 'attachment; filename=artifacts.zip');
    assert.equal(download.headers['content-transfer-encoding'], 'binary');
    const job = await api.request<{ artifacts_file: unknown }>('GET', `/api/v4/projects/${project.id}/jobs/${compile.id}`);
    assert.deepEqual(job.body.artifacts_file, { filename: 'artifacts.zip', size: zip.length });
    assert.deepEqual(tmpEntries(), []);
  });

  test('several artifacts per job, one per type; uploading a type again replaces only that one', async () => {
    const { take } = await pipelineOn('v4');
    const compile = await take();
    const zip = await zipToBuffer({ 'a.txt': 'a' });
    const junit = gzipSync('<testsuites/>');
    const metadata = gzipSync('{"version":"1"}');
    for (const [content, options] of [
      [zip, { artifactType: 'archive', artifactFormat: 'zip' }],
      [metadata, { artifactType: 'metadata', artifactFormat: 'gzip', filename: 'metadata.gz' }],
      [junit, { artifactType: 'junit', artifactFormat: 'gzip', filename: 'junit.xml.gz', expireIn: 'never' }],
    ] as const) {
      const reply = await uploadArtifactsV4(coordinator.url, compile.id, content, { jobToken: compile.token, ...options });
      assert.equal(reply.status, 201, `${options.artifactType}: ${reply.text}`);
    }
    assert.deepEqual(
      (await rows(compile.id)).map((row) => [row.file_type, row.file_format, row.filename, Number(row.size), row.expire_at]),
      [
        ['archive', 'zip', 'artifacts.zip', zip.length, null],
        ['junit', 'gzip', 'junit.xml.gz', junit.length, null],
        ['metadata', 'gzip', 'metadata.gz', metadata.length, null],
      ],
    );
    assert.equal(storedFiles(compile.id).length, 3);

    const newer = await zipToBuffer({ 'b.txt': 'b' });
    assert.equal((await uploadArtifactsV4(coordinator.url, compile.id, newer, { jobToken: compile.token })).status, 201, 'no type: archive');
    assert.equal((await rows(compile.id)).length, 3);
    assert.equal(storedFiles(compile.id).length, 3, "the old archive's file is gone");
    const download = await downloadArtifactsV4(v4, compile.id, compile.token);
    assert.ok(download.body.equals(newer), 'the download is the archive, never another type');
  });

  test('refused uploads: 4xx JSON {message}, nothing stored, nothing left in tmp', async () => {
    const { take, finish } = await pipelineOn('v4');
    const compile = await take();
    const zip = await zipToBuffer({ 'a.txt': 'a' });
    const cases: [string, number | string, Parameters<typeof uploadArtifactsV4>[3], number, RegExp][] = [
      ['wrong token', compile.id, { jobToken: 'not-a-job-token' }, 403, /^403 Forbidden/],
      ['no token', compile.id, { jobToken: null }, 403, /^403 Forbidden/],
      ['unknown job', 999999, { jobToken: compile.token }, 403, /^403 Forbidden/],
      ['bad id', 'abc', { jobToken: compile.token }, 400, /id/],
      ['archive as gzip', compile.id, { jobToken: compile.token, artifactFormat: 'gzip' }, 400, /must be zip/],
      ['metadata as zip', compile.id, { jobToken: compile.token, artifactType: 'metadata', artifactFormat: 'zip' }, 400, /must be gzip/],
      ['unknown type', compile.id, { jobToken: compile.token, artifactType: 'bogus' }, 400, /artifact_type/],
      ['unknown format', compile.id, { jobToken: compile.token, artifactFormat: 'rar' }, 400, /artifact_format/],
      ['bad expire_in', compile.id, { jobToken: compile.token, expireIn: '7 parsecs' }, 400, /expire_in/],
    ];
    for (const [what, id, options, status, message] of cases) {
      const reply = await uploadArtifactsV4(coordinator.url, id, zip, options);
      assert.equal(reply.status, status, `${what}: ${reply.text}`);
      assert.match((reply.json as { message: string }).message, message, what);
    }
    // The token as a parameter works too (GitLab's `token`).
    const byParameter = await uploadArtifactsV4(coordinator.url, compile.id, zip, { jobToken: null, query: { token: compile.token }, artifactType: 'lsif' });
    assert.equal(byParameter.status, 201, byParameter.text);

    const tooLarge = await uploadArtifactsV4(coordinator.url, compile.id, Buffer.alloc(1024 * 1024 + 1), { jobToken: compile.token }).catch((err: Error) => ({ status: -1, text: err.message }));
    assert.ok(tooLarge.status === 413 || tooLarge.status === -1, `too large: ${tooLarge.status}`);
    if (tooLarge.status === 413) assert.match(tooLarge.text, /413 Request Entity Too Large/);

    const noFile = await v4.send('POST', `/api/v4/jobs/${compile.id}/artifacts`, Buffer.from('--x\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--x--\r\n'), {
      'Content-Type': 'multipart/form-data; boundary=x',
      'JOB-TOKEN': compile.token,
    });
    assert.equal(noFile.status, 400);
    assert.match((noFile.json as { message: string }).message, /Missing artifacts file!/);

    await finish(compile);
    const finished = await uploadArtifactsV4(coordinator.url, compile.id, zip, { jobToken: compile.token });
    assert.equal(finished.status, 403);
    assert.equal(finished.headers['job-status'], 'success');
    assert.deepEqual((await rows(compile.id)).map((row) => row.file_type), ['lsif'], 'only what was accepted');
    assert.equal(storedFiles(compile.id).length, 1);
    assert.deepEqual(tmpEntries(), []);
  });

  test("a deleted project's running job: 403, nothing stored", async () => {
    const { project, take } = await pipelineOn('v4');
    const compile = await take();
    assert.equal((await api.request('DELETE', `/api/v4/projects/${project.id}`)).status, 202);
    const reply = await uploadArtifactsV4(coordinator.url, compile.id, await zipToBuffer({ 'a.txt': 'a' }), { jobToken: compile.token });
    // "Project has been deleted!", or a bare 403 once the background removal took the job too.
    assert.equal(reply.status, 403);
    assert.match((reply.json as { message: string }).message, /^403 Forbidden/);
    assert.deepEqual(storedFiles(compile.id), []);
  });

  test('a job token opens the artifacts upload of its own API only', async () => {
    const zip = await zipToBuffer({ 'a.txt': 'a' });
    const onV1 = await pipelineOn('v1');
    const v1Job = await onV1.take();
    const v4Refused = await uploadArtifactsV4(coordinator.url, v1Job.id, zip, { jobToken: v1Job.token });
    assert.equal(v4Refused.status, 403);
    assert.match((v4Refused.json as { message: string }).message, /runner API v4/);

    const onV4 = await pipelineOn('v4');
    const v4Job = await onV4.take();
    const form = Buffer.concat([Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="artifacts.zip"\r\n\r\n'), zip, Buffer.from('\r\n--x--\r\n')]);
    const v1Refused = await v1.send('POST', `/ci/api/v1/builds/${v4Job.id}/artifacts`, form, { 'Content-Type': 'multipart/form-data; boundary=x', 'BUILD-TOKEN': v4Job.token });
    assert.equal(v1Refused.status, 403);
    assert.deepEqual([...(await rows(v1Job.id)), ...(await rows(v4Job.id))], []);
  });

  test('downloads: the dependency token or a running job of the project; 401, 403 and 404 otherwise', async () => {
    const { take, finish } = await pipelineOn('v4');
    const compile = await take();
    const zip = await zipToBuffer({ 'out/app': 'binary' });
    assert.equal((await uploadArtifactsV4(coordinator.url, compile.id, zip, { jobToken: compile.token })).status, 201);
    await finish(compile);
    const rspec = await take();

    // As the runner does it: the dependency's id with the dependency's own token, after it finished.
    const own = await downloadArtifactsV4(v4, compile.id, compile.token);
    assert.equal(own.status, 200);
    assert.ok(own.body.equals(zip));
    // GitLab's way: the running (dependent) job's token; the parameter form and no direct_download too.
    const dependent = await downloadArtifactsV4(v4, compile.id, null, `?token=${rspec.token}`);
    assert.equal(dependent.status, 200);
    assert.ok(dependent.body.equals(zip));

    const other = await pipelineOn('v4');
    const foreign = await other.take();
    const check = async (id: number | string, token: string | null, status: number, message: RegExp) => {
      const reply = await downloadArtifactsV4(v4, id, token);
      assert.equal(reply.status, status, `${id} ${token}: ${reply.text}`);
      assert.match((reply.json as { message: string }).message, message);
    };
    await check(compile.id, null, 401, /401 Unauthorized/);
    await check(compile.id, 'not-a-token', 401, /401 Unauthorized/);
    await check(999999, compile.token, 403, /403 Forbidden/);
    await check(compile.id, foreign.token, 403, /403 Forbidden/);
    await check(rspec.id, rspec.token, 404, /404 Not Found/);
    await check('abc', compile.token, 400, /id/);
    await finish(rspec);
    // A finished job's token opens only its own artifacts.
    await check(compile.id, rspec.token, 401, /401 Unauthorized/);
  });

  test("a mixed fleet: a v1 runner's archive downloads through v4 with its own token", async () => {
    const onV1 = await pipelineOn('v1');
    const compile = await onV1.take();
    const zip = await zipToBuffer({ 'out/app': 'from a v1 runner' });
    const form = Buffer.concat([Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="artifacts.zip"\r\n\r\n'), zip, Buffer.from('\r\n--x--\r\n')]);
    const uploaded = await v1.send('POST', `/ci/api/v1/builds/${compile.id}/artifacts`, form, { 'Content-Type': 'multipart/form-data; boundary=x', 'BUILD-TOKEN': compile.token });
    assert.equal(uploaded.status, 201, uploaded.text);
    const download = await downloadArtifactsV4(v4, compile.id, compile.token);
    assert.equal(download.status, 200);
    assert.ok(download.body.equals(zip));
  });
});
