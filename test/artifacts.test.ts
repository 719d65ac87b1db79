// POST, GET and DELETE /ci/api/v1/builds/:id/artifacts(.json), black-box through a real server,
// with real chunked multipart bodies and real zips.
//
// GitLab's request specs (gitlab-ci-api-v1.md §8.4–8.7) assume gitlab-workhorse in front: the
// authorize endpoint and uploads "accelerated" as `file.path`. There is no Workhorse here; the
// runner's direct multipart upload is the only upload, so the cases map like this:
//
// | spec | what it checks                                    | here                                                     |
// |------|---------------------------------------------------|----------------------------------------------------------|
// | A1–A3| authorize with build token / header / runners token| no authorize endpoint; the same tokens on a direct upload |
// | A4   | authorize without the Workhorse JWT → 500          | nothing to verify: no Workhorse, no JWT                   |
// | A5–A6| authorize with filesize ≥ max → 413                | a streamed upload over MAX_ARTIFACTS_SIZE_MB → 413        |
// | A7   | bad token (and no Workhorse header) → 403          | bad token → 403                                           |
// | P1   | erased build → 403                                 | same                                                      |
// | P2   | regular multipart file post → 201, filename        | same, chunked with no Content-Length, a real zip          |
// | P3   | accelerated `file.path` post → 201                 | not applicable: a direct upload takes its place (P2)      |
// | P4   | a second upload replaces the first                 | same, plus a download racing the re-upload                |
// | P5   | the runners token uploads                          | same                                                      |
// | P6   | file plus Workhorse's metadata file                | no metadata (Workhorse made it); a `metadata` part is skipped |
// | P7–P8| only metadata, no file → 400, nothing stored       | same                                                      |
// | P9   | expire_in → artifacts_expire_at ≈ now + 7 days     | same, exactly (injected clock), several duration forms    |
// | P10  | expire_in without value → null                     | same                                                      |
// | P11  | max_artifacts_size 0 → 413                         | over the limit, and exactly at it → 413, nothing left     |
// | P12  | no file at all → 400                               | same                                                      |
// | P13  | no Gitlab-Workhorse header → 403                   | not applicable: direct uploads need no such header        |
// | P14  | `file.path` outside the upload dir → 400           | not applicable: no request text ever becomes a path; sanitised names instead |
// | D1–D2| delete (twice) with build token / runners token    | same                                                      |
// | G1–G3| download with build token / runners token; none → 404 | same                                                  |
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { deleteArtifacts, placeArtifactsFile, recordPlacedArtifacts } from '../src/domain/artifacts.js';
import { systemClock } from '../src/domain/clock.js';
import { listJobArtifacts } from '../src/store/artifacts.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { receivedUpload } from './support/receivedUpload.js';
import { BuildStarter, ManualClock, startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';
import { unzipToMap, zipToBuffer } from './support/zip.js';

const MIB = 1024 * 1024;
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

interface Part {
  name: string;
  filename?: string;
  /** Replaces the whole Content-Disposition value, e.g. for RFC 5987's `filename*`. */
  disposition?: string;
  content: Buffer | string | Readable;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: () => unknown;
}

/** A multipart/form-data POST sent chunked with no Content-Length, as the runner sends it. */
function postMultipart(baseUrl: string, requestPath: string, headers: Record<string, string>, parts: Part[]): Promise<Reply> {
  const boundary = `----test${Date.now()}${Math.random().toString(16).slice(2)}`;
  async function* body(): AsyncGenerator<Buffer> {
    for (const part of parts) {
      const disposition = part.disposition ?? `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
      const type = part.filename === undefined && part.disposition === undefined ? '' : 'Content-Type: application/octet-stream\r\n';
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`);
      if (part.content instanceof Readable) {
        for await (const chunk of part.content) yield chunk as Buffer;
      } else {
        yield Buffer.from(part.content);
      }
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return send(baseUrl, 'POST', requestPath, {
    'Content-Type': `multipart/form-data; boundary=${boundary}`,
    'Transfer-Encoding': 'chunked',
    ...headers,
  }, Readable.from(body()));
}

function send(baseUrl: string, method: string, requestPath: string, headers: Record<string, string>, body?: Readable | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(requestPath, baseUrl), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, json: () => JSON.parse(data.toString()) });
      });
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

describe('build artifacts', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let builds: BuildStarter;
  const clock = new ManualClock();

  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld({}, clock);
    ({ coordinator, api, builds } = world);
  });
  after(() => world.stop());

  const startBuild = (ciConfig?: string) => builds.start(ciConfig);

  function download(buildId: number, token: string, suffix = ''): Promise<Reply> {
    return send(coordinator.url, 'GET', `/ci/api/v1/builds/${buildId}/artifacts${suffix}`, { 'Build-Token': token });
  }

  /** The files in the build's archive directory: one per stored archive, none once removed. */
  function storedFiles(buildId: number): string[] {
    const dir = path.join(coordinator.dataDir, 'artifacts', String(buildId));
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  }

  function tmpEntries(): string[] {
    const tmp = path.join(coordinator.dataDir, 'tmp');
    return fs.existsSync(tmp) ? fs.readdirSync(tmp) : [];
  }

  /** The build's archive row (job_artifacts, type `archive`), as the archive's columns of a build (all null without one). */
  async function artifactsColumns(buildId: number): Promise<{ artifacts_filename: string | null; artifacts_size: number | null; artifacts_expire_at: string | null }> {
    const row = await coordinator.db('job_artifacts').where({ build_id: buildId, file_type: 'archive' }).first();
    return { artifacts_filename: row?.filename ?? null, artifacts_size: row ? Number(row.size) : null, artifacts_expire_at: row?.expire_at ?? null };
  }

  test('P2, G1: a chunked multipart zip from the runner → 201 with artifacts_file, then downloads byte for byte', async () => {
    const { build, runner } = await startBuild();
    const zip = await zipToBuffer({ 'out.txt': 'hello from the build\n', 'dir/data.bin': Buffer.alloc(100_000, 7) });
    const uploaded = await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) });
    assert.equal(uploaded.status, 201, uploaded.body.toString());
    assert.equal(uploaded.headers['content-type'], 'application/json');
    assert.ok(uploaded.requestCompleted);
    const payload = JSON.parse(uploaded.body.toString());
    assert.deepEqual(payload.artifacts_file, { filename: 'artifacts.zip', size: zip.length });
    assert.equal(payload.artifacts_expire_at, null); // P10: present, null
    assert.equal(payload.id, build.id);
    assert.equal(payload.status, 'running');
    assert.ok(Array.isArray(payload.variables));

    const reply = await runner.downloadArtifacts(build.id, build.token);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/octet-stream');
    assert.equal(reply.headers['content-disposition'], 'attachment; filename=artifacts.zip');
    assert.equal(reply.headers['content-transfer-encoding'], 'binary');
    assert.equal(reply.headers['content-length'], String(zip.length));
    assert.ok(reply.body.equals(zip));
    const files = await unzipToMap(reply.body);
    assert.equal(files['out.txt']?.toString(), 'hello from the build\n');
    assert.deepEqual(tmpEntries(), []);
  });

  test('the .json paths upload, download and delete too', async () => {
    const { build } = await startBuild();
    const zip = await zipToBuffer({ 'a.txt': 'a' });
    const uploaded = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts.json`, { 'Build-Token': build.token }, [
      { name: 'file', filename: 'artifacts.zip', content: zip },
    ]);
    assert.equal(uploaded.status, 201);
    const fetched = await download(build.id, build.token, '.json');
    assert.equal(fetched.status, 200);
    assert.ok(fetched.body.equals(zip));
    const removed = await send(coordinator.url, 'DELETE', `/ci/api/v1/builds/${build.id}/artifacts.json`, { 'Build-Token': build.token });
    assert.equal(removed.status, 200);
    assert.equal(removed.body.toString(), 'true');
  });

  test('P4: a re-upload replaces the archive and its name', async () => {
    const { build, runner } = await startBuild();
    const first = await zipToBuffer({ 'first.txt': '1' });
    const second = await zipToBuffer({ 'second.txt': '2' });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([first]) }, { name: 'first' })).status, 201);
    const again = await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([second]) }, { name: 'second' });
    assert.equal(again.status, 201);
    assert.deepEqual(JSON.parse(again.body.toString()).artifacts_file, { filename: 'second.zip', size: second.length });
    const reply = await download(build.id, build.token);
    assert.equal(reply.headers['content-disposition'], 'attachment; filename=second.zip');
    assert.ok(reply.body.equals(second));
    assert.equal(storedFiles(build.id).length, 1, 'the replaced archive\'s file is gone');
  });

  test('a download during a re-upload gets the old or the new archive, always complete', async () => {
    const { build, runner } = await startBuild();
    const old = await zipToBuffer({ 'old.txt': 'old' });
    const fresh = await zipToBuffer({ 'new.bin': Buffer.alloc(6 * MIB, 1) });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([old]) })).status, 201);

    const body = new PassThrough();
    const upload = runner.uploadArtifacts(build.id, build.token, { stream: body });
    // Half the new archive is on its way: downloads still see the old one, whole.
    body.write(fresh.subarray(0, fresh.length / 2));
    for (let i = 0; i < 3; i++) {
      const reply = await download(build.id, build.token);
      assert.equal(reply.status, 200);
      assert.ok(reply.body.equals(old), 'old archive, complete');
    }
    // Finish the upload while downloads keep coming; each must be one archive or the other.
    body.end(fresh.subarray(fresh.length / 2));
    let done = false;
    const finished = upload.then((result) => {
      done = true;
      return result;
    });
    while (!done) {
      const reply = await download(build.id, build.token);
      assert.equal(reply.status, 200);
      assert.ok(reply.body.equals(old) || reply.body.equals(fresh), `a download of ${reply.body.length} bytes is neither archive`);
      assert.equal(Number(reply.headers['content-length']), reply.body.length);
    }
    assert.equal((await finished).status, 201);
    const last = await download(build.id, build.token);
    assert.ok(last.body.equals(fresh));
    assert.equal(storedFiles(build.id).length, 1);
  });

  test('P5, G2, D2: the project runners token uploads, downloads and deletes', async () => {
    const { build, runner, runnersToken } = await startBuild();
    const zip = await zipToBuffer({ 'x.txt': 'x' });
    assert.equal((await runner.uploadArtifacts(build.id, runnersToken, { stream: Readable.from([zip]) })).status, 201);
    const reply = await download(build.id, runnersToken);
    assert.equal(reply.status, 200);
    assert.ok(reply.body.equals(zip));
    for (let i = 0; i < 2; i++) {
      const removed = await send(coordinator.url, 'DELETE', `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': runnersToken });
      assert.equal(removed.status, 200);
    }
    assert.deepEqual(storedFiles(build.id), []);
  });

  test('the token may come as a query parameter, or as a form field before the file', async () => {
    const { build } = await startBuild();
    const zip = await zipToBuffer({ 'q.txt': 'q' });
    const byQuery = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts?token=${build.token}`, {}, [
      { name: 'file', filename: 'artifacts.zip', content: zip },
    ]);
    assert.equal(byQuery.status, 201);
    const byField = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, {}, [
      { name: 'token', content: build.token },
      { name: 'file', filename: 'field.zip', content: zip },
    ]);
    assert.equal(byField.status, 201);
    assert.equal((byField.json() as { artifacts_file: { filename: string } }).artifacts_file.filename, 'field.zip');
    const fieldAfterFile = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, {}, [
      { name: 'file', filename: 'late.zip', content: zip },
      { name: 'token', content: build.token },
    ]);
    assert.equal(fieldAfterFile.status, 403, 'a token after the file comes too late to let the file in');
    assert.equal((await artifactsColumns(build.id)).artifacts_filename, 'field.zip');
    assert.deepEqual(tmpEntries(), []);
  });

  test('P7, P8, P12: no file part → 400, and nothing stored', async () => {
    const { build } = await startBuild();
    const metadataOnly = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'metadata', filename: 'metadata.gz', content: Buffer.alloc(1000, 1) },
    ]);
    assert.equal(metadataOnly.status, 400);
    assert.deepEqual(metadataOnly.json(), { message: '400 (Bad request) "Missing artifacts file!" not given' });
    const empty = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, []);
    assert.equal(empty.status, 400);
    assert.deepEqual(empty.json(), { message: '400 (Bad request) "Missing artifacts file!" not given' });
    const notAFile = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'file', content: 'just text' },
    ]);
    assert.equal(notAFile.status, 400);
    assert.deepEqual(notAFile.json(), { message: '400 (Bad request) "file is not a file" not given' });
    const notMultipart = await send(coordinator.url, 'POST', `/ci/api/v1/builds/${build.id}/artifacts`, {
      'Build-Token': build.token,
      'Content-Type': 'application/octet-stream',
    }, Buffer.from('PK raw zip bytes'));
    assert.equal(notMultipart.status, 400);
    const garbled = await send(coordinator.url, 'POST', `/ci/api/v1/builds/${build.id}/artifacts`, {
      'Build-Token': build.token,
      'Content-Type': 'multipart/form-data; boundary=xyz',
    }, Buffer.from('--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\ncut short'));
    assert.equal(garbled.status, 400);
    assert.equal(typeof (garbled.json() as { message: unknown }).message, 'string');
    assert.deepEqual(await artifactsColumns(build.id), { artifacts_filename: null, artifacts_size: null, artifacts_expire_at: null });
    assert.deepEqual(storedFiles(build.id), []);
    assert.deepEqual(tmpEntries(), []);
  });

  test('a metadata part beside the file is skipped (Workhorse made it, not the runner)', async () => {
    const { build } = await startBuild();
    const zip = await zipToBuffer({ 'm.txt': 'm' });
    const reply = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'metadata', filename: 'metadata.gz', content: Buffer.alloc(500, 2) },
      { name: 'file', filename: 'artifacts.zip', content: zip },
    ]);
    assert.equal(reply.status, 201);
    assert.ok((await download(build.id, build.token)).body.equals(zip));
  });

  test('P9: expire_in sets artifacts_expire_at, in every GitLab duration form', async () => {
    const { build, runner } = await startBuild();
    const zip = await zipToBuffer({ 'e.txt': 'e' });
    const forms: [string, number][] = [
      ['7 days', 7 * DAY],
      ['1 week', 7 * DAY],
      ['30 mins', 30 * 60 * 1000],
      ['2h', 2 * HOUR],
      ['1 day and 2 hours', 26 * HOUR],
    ];
    for (const [expireIn, ms] of forms) {
      // The runner sends it as `?expire_in=1+week`.
      const reply = await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) }, { expireIn });
      assert.equal(reply.status, 201, expireIn);
      const expected = new Date(clock.now().getTime() + ms).toISOString();
      assert.equal(JSON.parse(reply.body.toString()).artifacts_expire_at, expected, expireIn);
      assert.equal((await artifactsColumns(build.id)).artifacts_expire_at, expected);
    }
    assert.ok(runner.exchanges.some((exchange) => exchange.path.endsWith('?expire_in=1+week')));
    const byField = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'file', filename: 'artifacts.zip', content: zip },
      { name: 'expire_in', content: '3 days' },
    ]);
    assert.equal(byField.status, 201);
    assert.equal((byField.json() as { artifacts_expire_at: string }).artifacts_expire_at, new Date(clock.now().getTime() + 3 * DAY).toISOString());
  });

  test('P10: no expire_in, or an empty one, means no expiry', async () => {
    const { build, runner } = await startBuild();
    const zip = await zipToBuffer({ 'n.txt': 'n' });
    for (const requestPath of [`/ci/api/v1/builds/${build.id}/artifacts?`, `/ci/api/v1/builds/${build.id}/artifacts?expire_in=`]) {
      const reply = await postMultipart(coordinator.url, requestPath, { 'Build-Token': build.token }, [{ name: 'file', filename: 'a.zip', content: zip }]);
      assert.equal(reply.status, 201, requestPath);
      const payload = reply.json() as Record<string, unknown>;
      assert.ok('artifacts_expire_at' in payload);
      assert.equal(payload.artifacts_expire_at, null);
    }
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) })).status, 201);
    assert.equal((await artifactsColumns(build.id)).artifacts_expire_at, null);
  });

  test('an unparsable expire_in → 400, and nothing is stored or left in tmp', async () => {
    const { build, runner } = await startBuild();
    const zip = await zipToBuffer({ 'u.txt': 'u' });
    const inQuery = await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) }, { expireIn: '7 parsecs' });
    assert.equal(inQuery.status, 400);
    assert.match(JSON.parse(inQuery.body.toString()).message, /^400 .*expire_in/);
    // As a form field it arrives after the file, which is then already on disk: it must go.
    const inField = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'file', filename: 'artifacts.zip', content: zip },
      { name: 'expire_in', content: 'soon' },
    ]);
    assert.equal(inField.status, 400);
    assert.deepEqual(await artifactsColumns(build.id), { artifacts_filename: null, artifacts_size: null, artifacts_expire_at: null });
    assert.deepEqual(storedFiles(build.id), []);
    assert.deepEqual(tmpEntries(), []);
  });

  test('filenames are sanitised; the file on disk is named by the build id and a server-made key only', async () => {
    const { build } = await startBuild();
    const zip = await zipToBuffer({ 's.txt': 's' });
    const cases: [string, string][] = [
      ['../../etc/passwd', 'passwd'],
      ['..\\..\\windows\\evil.zip', 'evil.zip'],
      ['dir/sub/name.zip', 'name.zip'],
      ['my results (final).zip', 'my_results__final_.zip'],
      ['..', '_..'],
      ['', 'artifacts.zip'],
      ['a;b=c,d.zip', 'a_b_c_d.zip'],
      ['héllo.zip', 'héllo.zip'],
    ];
    for (const [sent, kept] of cases) {
      const reply = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
        { name: 'file', filename: sent, content: zip },
      ]);
      assert.equal(reply.status, 201, sent);
      assert.equal((reply.json() as { artifacts_file: { filename: string } }).artifacts_file.filename, kept, sent);
    }
    const fetched = await download(build.id, build.token);
    // Non-ASCII letters: an ASCII fallback plus RFC 6266's filename*.
    assert.equal(fetched.headers['content-disposition'], `attachment; filename="h_llo.zip"; filename*=UTF-8''h%C3%A9llo.zip`);
    // Eight uploads, one file: each re-upload removed the archive it replaced.
    const [stored, ...others] = storedFiles(build.id);
    assert.deepEqual(others, []);
    assert.match(stored ?? '', /^[0-9a-f]{30}\.zip$/, 'named by a server-made key');
    assert.equal(fs.existsSync(path.join(coordinator.dataDir, 'etc')), false);
  });

  test('a filename with a line break cannot inject a header', async () => {
    const { build } = await startBuild();
    const zip = await zipToBuffer({ 'n.txt': 'n' });
    // A raw CR LF inside the quoted filename ends the part's header line early: the part is
    // no longer a file called `file`, so nothing is stored and no header can be smuggled.
    const reply = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'file', filename: 'evil\r\nX-Injected: 1.zip', content: zip },
    ]);
    assert.equal(reply.status, 400);
    assert.deepEqual(await artifactsColumns(build.id), { artifacts_filename: null, artifacts_size: null, artifacts_expire_at: null });
    // Percent-encoded (RFC 7578's advice), the bytes stay text and are sanitised like any other.
    const percentEncoded = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'file', filename: 'line%0D%0Abreak.zip', content: zip },
    ]);
    assert.equal(percentEncoded.status, 201);
    // RFC 5987's filename* does decode to a real CR LF: it is sanitised away.
    const extended = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'file', disposition: `form-data; name="file"; filename*=UTF-8''evil%0D%0AX-Injected%3A%201.zip`, content: zip },
    ]);
    assert.equal(extended.status, 201);
    assert.equal((extended.json() as { artifacts_file: { filename: string } }).artifacts_file.filename, 'evil__X-Injected__1.zip');
    const fetched = await download(build.id, build.token);
    assert.equal(fetched.headers['x-injected'], undefined);
    assert.equal(fetched.headers['content-disposition'], 'attachment; filename=evil__X-Injected__1.zip');
  });

  test('an upload cut off by the client leaves nothing behind, and the server carries on', async () => {
    const { build, runner } = await startBuild();
    await new Promise<void>((resolve, reject) => {
      const req = http.request(new URL(`/ci/api/v1/builds/${build.id}/artifacts`, coordinator.url), {
        method: 'POST',
        agent: false,
        headers: { 'Build-Token': build.token, 'Content-Type': 'multipart/form-data; boundary=cut', 'Transfer-Encoding': 'chunked' },
      });
      req.on('error', () => resolve());
      req.on('response', () => reject(new Error('the server answered a body that never ended')));
      req.write('--cut\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n');
      req.write(Buffer.alloc(256 * 1024, 1), () => {
        // Wait until the server has started the temporary file, then hang up mid-file.
        void waitFor(() => tmpEntries().length > 0).then(() => req.destroy(), reject);
      });
    });
    await waitFor(() => tmpEntries().length === 0);
    assert.deepEqual(await artifactsColumns(build.id), { artifacts_filename: null, artifacts_size: null, artifacts_expire_at: null });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { files: { 'ok.txt': 'ok' } })).status, 201);
  });

  /** Polls a condition on the server's side effects (no answer tells us when cleanup is done). */
  async function waitFor(condition: () => boolean): Promise<void> {
    for (let attempt = 0; attempt < 500; attempt++) {
      if (condition()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('condition never held');
  }

  test('P1: an erased build → 403 on upload, download and delete', async () => {
    const { build, runner } = await startBuild();
    // Erasing is a GitLab UI action with no endpoint here; set it as the spec's factory does.
    await coordinator.db('builds').where({ id: build.id }).update({ erased_at: clock.now().toISOString() });
    const zip = await zipToBuffer({ 'p.txt': 'p' });
    const reply = await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) });
    assert.equal(reply.status, 403);
    assert.deepEqual(JSON.parse(reply.body.toString()), { message: '403 Forbidden  - Build has been erased!' });
    assert.equal((await download(build.id, build.token)).status, 403);
    assert.equal((await send(coordinator.url, 'DELETE', `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token })).status, 403);
    assert.deepEqual(tmpEntries(), []);
  });

  test('a deleted project → 403 on every artifacts call', async () => {
    const { build, runner, projectId } = await startBuild();
    // Projects are only marked pending_delete by an admin action the user API doesn't offer yet.
    await coordinator.db('projects').where({ id: projectId }).update({ pending_delete: true });
    const reply = await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([await zipToBuffer({ 'd.txt': 'd' })]) });
    assert.equal(reply.status, 403);
    assert.deepEqual(JSON.parse(reply.body.toString()), { message: '403 Forbidden  - Project has been deleted!' });
    const fetched = await download(build.id, build.token);
    assert.deepEqual(fetched.json(), { message: '403 Forbidden  - Project has been deleted!' });
  });

  test('X12: a build that is not running → 403 on upload; download and delete still work', async () => {
    const { build, runner } = await startBuild();
    const zip = await zipToBuffer({ 'f.txt': 'f' });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) })).status, 201);
    assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
    const late = await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) });
    assert.equal(late.status, 403);
    assert.deepEqual(JSON.parse(late.body.toString()), { message: '403 Forbidden  - Build is not running!' });
    assert.equal((await download(build.id, build.token)).status, 200);
    assert.equal((await send(coordinator.url, 'DELETE', `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token })).status, 200);
    assert.deepEqual(tmpEntries(), []);
  });

  test('X11, A7: unknown build → 404 and wrong token → 403 on every artifacts call', async () => {
    const { build, runner } = await startBuild();
    const zip = await zipToBuffer({ 'x.txt': 'x' });
    const unknownUpload = await runner.uploadArtifacts(999999, build.token, { stream: Readable.from([zip]) });
    assert.equal(unknownUpload.status, 404);
    assert.equal((await download(999999, build.token)).status, 404);
    assert.equal((await send(coordinator.url, 'DELETE', '/ci/api/v1/builds/999999/artifacts', { 'Build-Token': build.token })).status, 404);
    const badUpload = await runner.uploadArtifacts(build.id, 'wrong', { stream: Readable.from([zip]) });
    assert.equal(badUpload.status, 403);
    assert.deepEqual(JSON.parse(badUpload.body.toString()), { message: '403 Forbidden' });
    assert.equal((await download(build.id, 'wrong')).status, 403);
    assert.equal((await send(coordinator.url, 'DELETE', `/ci/api/v1/builds/${build.id}/artifacts`, {})).status, 403);
    const other = await startBuild();
    assert.equal((await download(build.id, other.build.token)).status, 403, "another build's token");
    assert.deepEqual(tmpEntries(), []);
  });

  test('G3: a build without artifacts → 404', async () => {
    const { build } = await startBuild();
    const reply = await download(build.id, build.token);
    assert.equal(reply.status, 404);
    assert.deepEqual(reply.json(), { message: '404 Not Found' });
  });

  test('D1: delete removes the file and the columns, and a second delete is 200 too', async () => {
    const { build, runner } = await startBuild();
    const zip = await zipToBuffer({ 'd.txt': 'd' });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) }, { expireIn: '1 week' })).status, 201);
    assert.equal(storedFiles(build.id).length, 1);
    for (let i = 0; i < 2; i++) {
      const removed = await send(coordinator.url, 'DELETE', `/ci/api/v1/builds/${build.id}/artifacts?token=${build.token}`, {});
      assert.equal(removed.status, 200);
      assert.equal(removed.headers['content-type'], 'application/json');
      assert.equal(removed.body.toString(), 'true');
    }
    assert.deepEqual(storedFiles(build.id), []);
    assert.deepEqual(await artifactsColumns(build.id), { artifacts_filename: null, artifacts_size: null, artifacts_expire_at: null });
    assert.equal((await download(build.id, build.token)).status, 404);
  });

  test('expired artifacts vanish from build payloads and job JSON but still download', async () => {
    const running = await startBuild('stages: [build, test]\ncompile:\n  stage: build\n  script: make\nrspec:\n  stage: test\n  script: rspec\n');
    const { build, runner } = running;
    const zip = await zipToBuffer({ 'bin/app': 'binary' });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) }, { expireIn: '1 hour' })).status, 201);
    assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
    const job = await api.request<{ artifacts_file: unknown; artifacts_expire_at: unknown }>('GET', `/api/v4/projects/${running.projectId}/jobs/${build.id}`);
    assert.deepEqual(job.body.artifacts_file, { filename: 'artifacts.zip', size: zip.length });

    clock.advance(2 * HOUR);
    const next = await runner.requestBuild();
    assert.ok(next);
    assert.equal(next.depends_on_builds.length, 1);
    assert.equal(next.depends_on_builds[0]?.id, build.id);
    assert.equal(next.depends_on_builds[0]?.artifacts_file, null, 'the runner would not try to download it');
    assert.equal('artifacts_file' in (next.raw.depends_on_builds as Record<string, unknown>[])[0]!, false);
    const expiredJob = await api.request<{ artifacts_file: unknown; artifacts_expire_at: unknown }>('GET', `/api/v4/projects/${running.projectId}/jobs/${build.id}`);
    assert.equal(expiredJob.body.artifacts_file, null);
    assert.equal(expiredJob.body.artifacts_expire_at, null);
    // GitLab served the file until its cleanup worker removed it.
    const fetched = await download(build.id, build.token);
    assert.equal(fetched.status, 200);
    assert.ok(fetched.body.equals(zip));
  });

  test('dependencies: the next stage sees artifacts_file and downloads with the dependency\'s own token', async () => {
    const running = await startBuild('stages: [build, test]\ncompile:\n  stage: build\n  script: make\nrspec:\n  stage: test\n  script: rspec\n');
    const { build, runner } = running;
    const zip = await zipToBuffer({ 'bin/app': 'binary' });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) })).status, 201);
    assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
    const next = await runner.requestBuild();
    assert.ok(next);
    const dependency = next.depends_on_builds[0];
    assert.ok(dependency);
    assert.deepEqual(dependency.artifacts_file, { filename: 'artifacts.zip', size: zip.length });
    const fetched = await runner.downloadArtifacts(dependency.id, dependency.token);
    assert.equal(fetched.status, 200);
    assert.ok(fetched.body.equals(zip));
  });

  // An upload places its file, then switches the row to it: a delete, an erase or a project
  // deletion landing between those two statements cannot be timed through HTTP, so these
  // drive the domain functions in that order, against the server's real database and files.
  describe('removals racing an upload', () => {
    test('a DELETE that read the row before a re-upload leaves the new archive alone', async () => {
      const { build, runner } = await startBuild();
      const old = await zipToBuffer({ 'old.txt': 'old' });
      const fresh = await zipToBuffer({ 'new.txt': 'new' });
      assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([old]) })).status, 201);
      const seenByDelete = await listJobArtifacts(coordinator.db, build.id);
      assert.equal(seenByDelete.length, 1);

      assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([fresh]) })).status, 201);
      await deleteArtifacts(coordinator.db, coordinator.dataDir, seenByDelete);

      const reply = await download(build.id, build.token);
      assert.equal(reply.status, 200);
      assert.ok(reply.body.equals(fresh));
      assert.equal(storedFiles(build.id).length, 1);
    });

    test('an erase between placing and recording: the upload is refused and its file removed', async () => {
      const { build, runner, projectId } = await startBuild();
      const placed = await placeArtifactsFile(coordinator.dataDir, build.id, receivedUpload(coordinator.dataDir, await zipToBuffer({ 'a.txt': 'a' })), null);
      assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
      assert.equal((await api.request('POST', `/api/v4/projects/${projectId}/jobs/${build.id}/erase`)).status, 201);

      assert.equal(await recordPlacedArtifacts(coordinator.db, systemClock, coordinator.dataDir, build.id, placed), false);
      assert.deepEqual(storedFiles(build.id), []);
      assert.deepEqual(await artifactsColumns(build.id), { artifacts_filename: null, artifacts_size: null, artifacts_expire_at: null });
    });

    test('an erase after recording removes the recorded archive', async () => {
      const { build, runner, projectId } = await startBuild();
      const placed = await placeArtifactsFile(coordinator.dataDir, build.id, receivedUpload(coordinator.dataDir, await zipToBuffer({ 'a.txt': 'a' })), null);
      assert.equal(await recordPlacedArtifacts(coordinator.db, systemClock, coordinator.dataDir, build.id, placed), true);
      assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
      assert.equal((await api.request('POST', `/api/v4/projects/${projectId}/jobs/${build.id}/erase`)).status, 201);
      assert.deepEqual(storedFiles(build.id), []);
    });

    test('a project deletion between placing and recording: the upload is refused and its file removed', async () => {
      const { build, projectId } = await startBuild();
      const placed = await placeArtifactsFile(coordinator.dataDir, build.id, receivedUpload(coordinator.dataDir, await zipToBuffer({ 'a.txt': 'a' })), null);
      assert.equal((await api.request('DELETE', `/api/v4/projects/${projectId}`)).status, 202);

      // Flagged when DELETE answered; the background removal may or may not have reached the build yet.
      assert.equal(await recordPlacedArtifacts(coordinator.db, systemClock, coordinator.dataDir, build.id, placed), false);
      assert.deepEqual(storedFiles(build.id), []);
      // Bounded by attempts, not by a clock: the removal must finish before the server stops.
      for (let attempt = 0; attempt < 2000 && (await coordinator.db('projects').where({ id: projectId })).length > 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(fs.existsSync(path.join(coordinator.dataDir, 'artifacts', String(build.id))), false);
    });
  });
});

describe('build artifacts with MAX_ARTIFACTS_SIZE_MB=1', () => {
  let coordinator: TestCoordinator;
  let builds: BuildStarter;

  before(async () => {
    coordinator = await startTestCoordinator({ MAX_ARTIFACTS_SIZE_MB: '1' });
    builds = new BuildStarter(coordinator.url, new UserApi(coordinator.url, coordinator.adminToken));
  });
  after(async () => {
    builds.close();
    await coordinator.stop();
  });

  const startBuild = () => builds.start();

  function assertNothingLeft(buildId: number): void {
    const tmp = path.join(coordinator.dataDir, 'tmp');
    assert.deepEqual(fs.existsSync(tmp) ? fs.readdirSync(tmp) : [], [], 'tmp is empty');
    assert.equal(fs.existsSync(path.join(coordinator.dataDir, 'artifacts', String(buildId))), false, 'no archive stored');
  }

  test('P11, A5: a 32 MiB upload gets 413 before the client finished sending, and leaves nothing behind', async () => {
    const { build, runner } = await startBuild();
    const total = 32 * MIB;
    const reply = await runner.uploadArtifacts(build.id, build.token, { randomBytes: total });
    assert.equal(reply.status, 413);
    assert.equal(reply.headers.connection, 'close');
    assert.deepEqual(JSON.parse(reply.body.toString()), { message: '413 Request Entity Too Large' });
    assert.equal(reply.requestCompleted, false, 'the answer came while the body was still streaming');
    assert.ok(reply.bytesSent < total);
    assertNothingLeft(build.id);
    assert.equal(await coordinator.db('job_artifacts').where({ build_id: build.id }).first(), undefined);
    // The server is fine afterwards, and a small archive still goes in.
    const small = await runner.uploadArtifacts(build.id, build.token, { files: { 'ok.txt': 'ok' } });
    assert.equal(small.status, 201);
  });

  test('GitLab accepts only size < max: exactly 1 MiB → 413, one byte less → 201', async () => {
    const { build, runner } = await startBuild();
    const exact = await runner.uploadArtifacts(build.id, build.token, { randomBytes: MIB });
    assert.equal(exact.status, 413);
    assertNothingLeft(build.id);
    const under = await runner.uploadArtifacts(build.id, build.token, { randomBytes: MIB - 1 });
    assert.equal(under.status, 201);
    assert.equal(JSON.parse(under.body.toString()).artifacts_file.size, MIB - 1);
  });

  test('a second file part over the limit is refused too', async () => {
    const { build } = await startBuild();
    const reply = await postMultipart(coordinator.url, `/ci/api/v1/builds/${build.id}/artifacts`, { 'Build-Token': build.token }, [
      { name: 'file', filename: 'a.zip', content: 'small' },
      { name: 'metadata', filename: 'm.gz', content: Buffer.alloc(2 * MIB, 3) },
    ]);
    assert.equal(reply.status, 413);
    assertNothingLeft(build.id);
  });
});
