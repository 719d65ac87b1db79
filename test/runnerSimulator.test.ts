// Self-test of the runner simulator against a tiny fake coordinator (node:http on 127.0.0.1:0).
// The fake implements just enough of GitLab 8.x's /ci/api/v1 to observe what the simulator sends:
// every request is recorded with its raw header names and body, so the tests can assert the wire
// format the real gitlab-ci-multi-runner 1.11.5 produces (runner-protocol.md).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GO_DEFAULT_USER_AGENT,
  RUNNER_USER_AGENT,
  RunnerProtocolError,
  RunnerSimulator,
  decodeBuildPayload,
  goBase,
  goJsonStringify,
  goQueryEscape,
  isDownloadedDependency,
  offsetFromRangeHeader,
  runnerApiBase,
  shouldUploadArtifacts,
  type BuildPayload,
  type DependencyBuild,
} from './support/runnerSimulator.js';
import { unzipToMap, zipToBuffer } from './support/zip.js';

// ---------------------------------------------------------------------------------------------------
// The fake coordinator
// ---------------------------------------------------------------------------------------------------

const REGISTRATION_TOKEN = 'reg-token';
const RUNNER_TOKEN = 'runner-token-1';
const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

interface RecordedRequest {
  method: string;
  /** Request target exactly as received, query included. */
  url: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Header names as written on the wire. */
  headerNames: string[];
  body: Buffer;
}

interface FakeBuild {
  id: number;
  token: string;
  status: 'pending' | 'running' | 'success' | 'failed' | 'canceled';
  trace: Buffer;
  artifacts?: Buffer;
}

interface UploadSeen {
  contentType: string;
  partHeaders: string;
  zip: Buffer;
}

type Reply = { status: number; headers?: Record<string, string>; body?: string | Buffer };

class FakeCoordinator {
  readonly requests: RecordedRequest[] = [];
  readonly builds = new Map<number, FakeBuild>();
  /** Raw JSON texts handed out by builds/register, in order. */
  readonly queue: string[] = [];
  readonly uploads: UploadSeen[] = [];
  runnerTokens = new Set<string>();
  /** Content-Type of JSON replies; GitLab/Grape sent exactly application/json. */
  jsonContentType = 'application/json';
  lastUpdateHeader: string | undefined;
  /** PATCH answers 404, like a server without incremental traces. */
  patchUnsupported = false;
  /** Ordinals (1-based) of PATCH requests answered 202 without storing: bytes "lost" by the server. */
  dropPatches = new Set<number>();
  /** After this many stored patches the build is canceled (Build-Status: canceled from then on). */
  cancelAfterStoredPatches: number | undefined;
  /** Overrides any PATCH reply (for malformed Range headers and other edge cases). */
  patchResponder: ((ordinal: number, build: FakeBuild) => Reply | undefined) | undefined;
  /** The first N final PUTs (with a success/failed state) get 500. */
  finalPutFailures = 0;
  /** The first N artifacts downloads get 500. */
  downloadFailures = 0;
  /** The first N artifacts uploads get 500. */
  uploadFailures = 0;
  /** Uploads larger than this get 413 while still streaming. */
  maxArtifactsBytes: number | undefined;
  private patchCount = 0;
  private storedPatches = 0;
  private readonly server: http.Server;

  constructor() {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  addBuild(build: FakeBuild): void {
    this.builds.set(build.id, build);
  }

  requestsTo(method: string, pathPattern: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && pathPattern.test(r.path));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '';
    const path = url.split('?')[0] ?? '';
    const headerNames = req.rawHeaders.filter((_, index) => index % 2 === 0);
    const record: RecordedRequest = { method: req.method ?? '', url, path, headers: req.headers, headerNames, body: Buffer.alloc(0) };
    this.requests.push(record);
    const upload = path.match(/^\/ci\/api\/v1\/builds\/(\d+)\/artifacts$/);
    if (req.method === 'POST' && upload) return this.receiveArtifacts(req, res, record, Number(upload[1]));
    record.body = await readAll(req);
    send(res, this.route(record));
  }

  private route(r: RecordedRequest): Reply {
    const m = (method: string, pattern: RegExp): RegExpMatchArray | null => (r.method === method ? r.path.match(pattern) : null);
    let match: RegExpMatchArray | null;
    if (m('POST', /^\/ci\/api\/v1\/runners\/register\.json$/)) return this.registerRunner(r);
    if (m('DELETE', /^\/ci\/api\/v1\/runners\/delete$/)) return this.deleteRunner(r);
    if (m('POST', /^\/ci\/api\/v1\/builds\/register\.json$/)) return this.registerBuild(r);
    if ((match = m('PUT', /^\/ci\/api\/v1\/builds\/(-?\d+)(?:\.json)?$/))) return this.updateBuild(r, Number(match[1]));
    if ((match = m('PATCH', /^\/ci\/api\/v1\/builds\/(\d+)\/trace\.txt$/))) return this.patchTrace(r, Number(match[1]));
    if ((match = m('GET', /^\/ci\/api\/v1\/builds\/(\d+)\/artifacts$/))) return this.downloadArtifacts(r, Number(match[1]));
    return { status: 404, body: '{"message":"404 Not Found"}' };
  }

  private json(status: number, value: unknown, extra: Record<string, string> = {}): Reply {
    return { status, headers: { 'Content-Type': this.jsonContentType, ...extra }, body: JSON.stringify(value) };
  }

  private registerRunner(r: RecordedRequest): Reply {
    const body = JSON.parse(r.body.toString()) as { token?: string };
    if (body.token !== REGISTRATION_TOKEN) return this.json(403, { message: '403 Forbidden' });
    this.runnerTokens.add(RUNNER_TOKEN);
    return this.json(201, { id: 1, token: RUNNER_TOKEN });
  }

  private deleteRunner(r: RecordedRequest): Reply {
    const body = JSON.parse(r.body.toString()) as { token?: string };
    if (!body.token || !this.runnerTokens.delete(body.token)) return this.json(403, { message: '403 Forbidden' });
    return this.json(200, { id: 1 });
  }

  private registerBuild(r: RecordedRequest): Reply {
    const body = JSON.parse(r.body.toString()) as { token?: string };
    if (!body.token || !this.runnerTokens.has(body.token)) return this.json(403, { message: '403 Forbidden' });
    const extra: Record<string, string> = this.lastUpdateHeader ? { 'X-GitLab-Last-Update': this.lastUpdateHeader } : {};
    const next = this.queue.shift();
    if (next === undefined) return { status: 204, headers: extra };
    const id = (JSON.parse(next) as { id?: unknown }).id;
    const build = typeof id === 'number' ? this.builds.get(id) : undefined;
    if (build) build.status = 'running';
    return { status: 201, headers: { 'Content-Type': this.jsonContentType, ...extra }, body: next };
  }

  private updateBuild(r: RecordedRequest, id: number): Reply {
    const body = JSON.parse(r.body.toString()) as { token?: string; state?: string; trace?: string };
    if (!body.token || !this.runnerTokens.has(body.token)) return this.json(403, { message: '403 Forbidden' });
    const build = this.builds.get(id);
    // GitLab looks the build up with .running.find(id): a canceled build answers 404.
    if (!build || build.status !== 'running') return this.json(404, { message: '404 Not found' });
    const final = body.state === 'success' || body.state === 'failed';
    if (final && this.finalPutFailures > 0) {
      this.finalPutFailures--;
      return this.json(500, { message: '500 Internal Server Error' });
    }
    if (body.trace !== undefined) build.trace = Buffer.from(body.trace);
    if (body.state === 'success' || body.state === 'failed') build.status = body.state;
    return this.json(200, null);
  }

  private patchTrace(r: RecordedRequest, id: number): Reply {
    const ordinal = ++this.patchCount;
    const build = this.builds.get(id);
    if (!build) return { status: 404 };
    if (r.headers['build-token'] !== build.token) return { status: 403 };
    const custom = this.patchResponder?.(ordinal, build);
    if (custom) return custom;
    if (this.patchUnsupported) return { status: 404 };
    const contentRange = r.headers['content-range'];
    if (!contentRange) return { status: 400, body: '400 Missing header Content-Range' };
    const start = Number(contentRange.split('-')[0]);
    if (start !== build.trace.length) {
      return { status: 416, headers: { Range: `0-${build.trace.length}` }, body: '416 Range Not Satisfiable' };
    }
    if (!this.dropPatches.has(ordinal)) {
      build.trace = Buffer.concat([build.trace, r.body]);
      this.storedPatches++;
      if (this.storedPatches === this.cancelAfterStoredPatches) build.status = 'canceled';
    }
    const range = `0-${build.trace.length}`;
    return { status: 202, headers: { 'Build-Status': build.status, Range: range, 'Content-Type': 'text/plain' }, body: range };
  }

  private downloadArtifacts(r: RecordedRequest, id: number): Reply {
    const build = this.builds.get(id);
    if (!build) return this.json(404, { message: '404 Not Found' });
    if (r.headers['build-token'] !== build.token) return this.json(403, { message: '403 Forbidden' });
    if (!build.artifacts) return this.json(404, { message: '404 Not Found' });
    if (this.downloadFailures > 0) {
      this.downloadFailures--;
      return this.json(500, { message: '500 Internal Server Error' });
    }
    return { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: build.artifacts };
  }

  /** Reads the chunked multipart upload as it streams; answers 413 early when it grows too large. */
  private async receiveArtifacts(req: http.IncomingMessage, res: http.ServerResponse, record: RecordedRequest, id: number): Promise<void> {
    const build = this.builds.get(id);
    if (!build) return send(res, this.json(404, { message: '404 Not Found' }));
    if (req.headers['build-token'] !== build.token) return send(res, this.json(403, { message: '403 Forbidden' }));
    const chunks: Buffer[] = [];
    let received = 0;
    const tooLarge = await new Promise<boolean>((resolve) => {
      const onData = (chunk: Buffer): void => {
        received += chunk.length;
        chunks.push(chunk);
        if (this.maxArtifactsBytes !== undefined && received > this.maxArtifactsBytes) {
          req.off('data', onData);
          req.pause();
          resolve(true);
        }
      };
      req.on('data', onData);
      req.on('end', () => resolve(false));
    });
    if (tooLarge) {
      return send(res, { status: 413, headers: { 'Content-Type': 'application/json', Connection: 'close' }, body: '{"message":"413 Request Entity Too Large"}' });
    }
    record.body = Buffer.concat(chunks);
    if (this.uploadFailures > 0) {
      this.uploadFailures--;
      return send(res, this.json(500, { message: '500 Internal Server Error' }));
    }
    const contentType = req.headers['content-type'] ?? '';
    const part = parseSinglePart(Buffer.concat(chunks), contentType);
    this.uploads.push({ contentType, partHeaders: part.headers, zip: part.data });
    build.artifacts = part.data;
    return send(res, this.json(201, { id }));
  }
}

function send(res: http.ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, reply.headers ?? {});
  res.end(reply.body);
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** Parses a multipart body holding exactly one part, and checks its framing on the way. */
function parseSinglePart(body: Buffer, contentType: string): { headers: string; data: Buffer } {
  const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
  assert.ok(boundary, `no boundary in ${contentType}`);
  const opening = Buffer.from(`--${boundary}\r\n`);
  const closing = Buffer.from(`\r\n--${boundary}--\r\n`);
  assert.ok(body.subarray(0, opening.length).equals(opening), 'multipart body must start with the boundary');
  assert.ok(body.subarray(body.length - closing.length).equals(closing), 'multipart body must end with the closing boundary');
  const headerEnd = body.indexOf('\r\n\r\n', opening.length);
  return {
    headers: body.subarray(opening.length, headerEnd).toString(),
    data: body.subarray(headerEnd + 4, body.length - closing.length),
  };
}

// ---------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------

const compileFiles = { 'out/app.bin': Buffer.from([0, 1, 2, 255]), 'out/readme.txt': 'compiled\n' };
const lintFiles = { 'lint.txt': 'ok\n' };

function dependency(id: number, name: string, withArtifacts = true): Record<string, unknown> {
  return {
    id,
    token: `build-token-${id}`,
    name,
    stage: 'build',
    ref: 'master',
    sha: SHA,
    tag: false,
    artifacts_file: withArtifacts ? { filename: 'artifacts.zip', size: 200 } : null,
  };
}

/** Build 11 "package": depends on 9 "compile" and 10 "lint", wants only compile's artifacts. */
function packageBuild(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 11,
    project_id: 7,
    commands: 'make package',
    repo_url: 'file:///srv/repos/repo.git',
    sha: SHA,
    ref: 'master',
    before_sha: '0000000000000000000000000000000000000000',
    allow_git_fetch: false,
    timeout: 3600,
    variables: [{ key: 'CI_BUILD_NAME', value: 'package', public: true }],
    options: { dependencies: ['compile'], artifacts: { paths: ['out/'], name: 'my art', expire_in: '1 week' } },
    token: 'build-token-11',
    name: 'package',
    stage: 'deploy',
    tag: false,
    depends_on_builds: [dependency(9, 'compile'), dependency(10, 'lint')],
    status: 'pending',
    project_name: 'group/project',
    ...overrides,
  };
}

const fastOptions = { updateRetryDelayMs: 20, artifactsRetryDelayMs: 10, pollIntervalMs: 10, requestTimeoutMs: 10_000 };

interface Setup {
  fake: FakeCoordinator;
  baseUrl: string;
  runner: RunnerSimulator;
}

/** A started fake with builds 9, 10 (with artifacts) and 11 (queued), plus a registered runner. */
async function setUp(t: TestContext, build = packageBuild()): Promise<Setup> {
  const fake = new FakeCoordinator();
  const baseUrl = await fake.start();
  t.after(() => fake.close());
  fake.addBuild({ id: 9, token: 'build-token-9', status: 'success', trace: Buffer.alloc(0), artifacts: await zipToBuffer(compileFiles) });
  fake.addBuild({ id: 10, token: 'build-token-10', status: 'success', trace: Buffer.alloc(0), artifacts: await zipToBuffer(lintFiles) });
  fake.addBuild({ id: 11, token: 'build-token-11', status: 'pending', trace: Buffer.alloc(0) });
  fake.queue.push(JSON.stringify(build));
  const runner = await RunnerSimulator.register(baseUrl, REGISTRATION_TOKEN, {}, fastOptions);
  t.after(() => runner.close());
  fake.requests.length = 0;
  return { fake, baseUrl, runner };
}

async function takeBuild(runner: RunnerSimulator): Promise<BuildPayload> {
  const build = await runner.requestBuild();
  assert.ok(build, 'expected a build');
  return build;
}

const expectedBuildInfo =
  '{"name":"gitlab-ci-multi-runner","version":"1.11.5","revision":"cbfcb5c8","platform":"linux","architecture":"amd64",' +
  '"executor":"shell","features":{"variables":true,"image":false,"services":false,"features":true,"cache":true}}';

function jsonBody(r: RecordedRequest | undefined): Record<string, unknown> {
  assert.ok(r, 'request not found');
  return JSON.parse(r.body.toString()) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

test('helpers: URL fixing, Go encodings and Range parsing', () => {
  assert.equal(runnerApiBase('http://h:1').href, 'http://h:1/ci/api/v1/');
  assert.equal(runnerApiBase('http://h:1/ci///').href, 'http://h:1/ci/api/v1/');
  assert.equal(runnerApiBase('http://h:1/gitlab/').href, 'http://h:1/gitlab/ci/api/v1/');
  assert.throws(() => runnerApiBase('ftp://h/'), RunnerProtocolError);
  assert.equal(goQueryEscape('1 week'), '1+week');
  assert.equal(goQueryEscape("a*b(c)'!~"), 'a%2Ab%28c%29%27%21~');
  assert.equal(goBase('dir/my art'), 'my art');
  assert.equal(goBase('a/b/'), 'b');
  assert.equal(goJsonStringify({ t: '<a>&\b\f\\b\u001b' }), '{"t":"\\u003ca\\u003e\\u0026\\u0008\\u000c\\\\b\\u001b"}');
  assert.equal(offsetFromRangeHeader('0-423'), 423);
  assert.equal(offsetFromRangeHeader('bytes 0-10'), 10);
  assert.equal(offsetFromRangeHeader('0-abc'), 0, 'Atoi errors are ignored by the runner');
  assert.throws(() => offsetFromRangeHeader(undefined), (e: unknown) => e instanceof RunnerProtocolError && e.kind === 'protocol');
  assert.throws(() => offsetFromRangeHeader('423'), (e: unknown) => e instanceof RunnerProtocolError && e.kind === 'protocol');
});

test('helpers: artifacts when-rules and dependency filtering', () => {
  const artifacts = { paths: ['out/'], untracked: false, name: '', when: '', expire_in: '' };
  assert.equal(shouldUploadArtifacts(artifacts, true), true);
  assert.equal(shouldUploadArtifacts(artifacts, false), false);
  assert.equal(shouldUploadArtifacts({ ...artifacts, when: 'on_failure' }, false), true);
  assert.equal(shouldUploadArtifacts({ ...artifacts, when: 'on_failure' }, true), false);
  assert.equal(shouldUploadArtifacts({ ...artifacts, when: 'always' }, true), true);
  assert.equal(shouldUploadArtifacts({ ...artifacts, when: 'always' }, false), true);
  assert.equal(shouldUploadArtifacts({ ...artifacts, paths: [] }, true), false);
  assert.equal(shouldUploadArtifacts({ ...artifacts, paths: [], untracked: true }, true), true);
  assert.equal(shouldUploadArtifacts(null, true), false);
  const dep: DependencyBuild = { id: 9, token: 't', name: 'compile', stage: '', ref: '', sha: '', tag: false, artifacts_file: { filename: 'a.zip', size: 1 } };
  assert.equal(isDownloadedDependency(dep, null), true, 'absent dependencies = all');
  assert.equal(isDownloadedDependency(dep, []), false, 'empty dependencies = none');
  assert.equal(isDownloadedDependency(dep, ['lint']), false);
  assert.equal(isDownloadedDependency({ ...dep, artifacts_file: { filename: '', size: 0 } }, null), false);
  assert.equal(isDownloadedDependency({ ...dep, artifacts_file: null }, null), false);
});

test('payload decoding follows Go types: mismatches throw, null gives zero values', () => {
  const ok = decodeBuildPayload(packageBuild({ variables: null, depends_on_builds: null, timeout: 0, options: null }));
  assert.deepEqual(ok.variables, []);
  assert.deepEqual(ok.depends_on_builds, []);
  assert.deepEqual(ok.options, {});
  assert.equal(ok.raw['project_name'], 'group/project');
  const decodeError = (e: unknown): boolean => e instanceof RunnerProtocolError && e.kind === 'decode';
  assert.throws(() => decodeBuildPayload(packageBuild({ id: '10' })), decodeError);
  assert.throws(() => decodeBuildPayload(packageBuild({ timeout: 1.5 })), decodeError);
  assert.throws(() => decodeBuildPayload(packageBuild({ allow_git_fetch: 'false' })), decodeError);
  assert.throws(() => decodeBuildPayload(packageBuild({ options: [] })), decodeError);
  assert.throws(() => decodeBuildPayload(packageBuild({ variables: [{ key: 'A', value: 1, public: true }] })), decodeError);
  assert.throws(() => decodeBuildPayload(packageBuild({ variables: [{ key: 'A', value: 'x', public: 'true' }] })), decodeError);
  assert.throws(
    () => decodeBuildPayload(packageBuild({ depends_on_builds: [{ ...dependency(9, 'compile'), artifacts_file: { filename: 'a.zip', size: '1' } }] })),
    decodeError,
  );
  assert.throws(() => decodeBuildPayload(packageBuild({ credentials: {} })), decodeError);
  const payloadError = (e: unknown): boolean => e instanceof RunnerProtocolError && e.kind === 'payload';
  assert.throws(() => decodeBuildPayload(packageBuild({ sha: 'abc' })), payloadError);
  assert.throws(() => decodeBuildPayload(packageBuild({ id: 0 })), payloadError);
});

// ---------------------------------------------------------------------------------------------------
// Runner calls
// ---------------------------------------------------------------------------------------------------

test('register sends the exact 1.11.5 body and headers, adding /ci to the URL', async (t) => {
  const fake = new FakeCoordinator();
  const baseUrl = await fake.start();
  t.after(() => fake.close());
  const runner = await RunnerSimulator.register(`${baseUrl}/`, REGISTRATION_TOKEN, {
    description: 'e2e-runner',
    tagList: ['a', 'b'],
    runUntagged: false,
  });
  t.after(() => runner.close());
  assert.equal(runner.token, RUNNER_TOKEN);
  assert.deepEqual(runner.registration, { id: 1, token: RUNNER_TOKEN });
  const [request] = fake.requests;
  assert.ok(request);
  assert.equal(request.url, '/ci/api/v1/runners/register.json');
  assert.equal(
    request.body.toString(),
    '{"info":{"name":"gitlab-ci-multi-runner","version":"1.11.5","revision":"cbfcb5c8","platform":"linux",' +
      '"architecture":"amd64","features":{"variables":false,"image":false,"services":false,"features":false,"cache":false}},' +
      '"token":"reg-token","description":"e2e-runner","tag_list":"a,b","run_untagged":false}',
  );
  assert.equal(request.headers['user-agent'], RUNNER_USER_AGENT);
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers['accept'], 'application/json');
  assert.equal(request.headers['content-length'], String(request.body.length));
  for (const name of ['User-Agent', 'Content-Type', 'Accept', 'Content-Length']) assert.ok(request.headerNames.includes(name), name);

  // Empty description and tags are left out; run_untagged is always there.
  const second = await RunnerSimulator.register(baseUrl, REGISTRATION_TOKEN, { runUntagged: true });
  second.close();
  assert.deepEqual(Object.keys(jsonBody(fake.requests[1])), ['info', 'token', 'run_untagged']);

  await assert.rejects(
    RunnerSimulator.register(baseUrl, 'wrong'),
    (e: unknown) => e instanceof RunnerProtocolError && e.kind === 'status' && e.status === 403,
  );
});

test('verify and unregister: PUT builds/-1 and DELETE runners/delete with JSON token bodies', async (t) => {
  const { fake, runner } = await setUp(t);
  assert.equal(await runner.verify(), true, '404 on builds/-1 means alive');
  const verify = fake.requests[0];
  assert.ok(verify);
  assert.equal(verify.method, 'PUT');
  assert.equal(verify.url, '/ci/api/v1/builds/-1');
  assert.equal(verify.body.toString(), `{"token":"${RUNNER_TOKEN}"}`);
  assert.equal(verify.headers['accept'], undefined, 'no Accept on PUT');
  assert.equal(verify.headers['user-agent'], RUNNER_USER_AGENT);

  assert.equal(await runner.unregister(), true);
  const remove = fake.requests[1];
  assert.ok(remove);
  assert.equal(remove.method, 'DELETE');
  assert.equal(remove.url, '/ci/api/v1/runners/delete');
  assert.equal(remove.body.toString(), `{"token":"${RUNNER_TOKEN}"}`);
  assert.equal(remove.headers['content-type'], 'application/json');
  assert.equal(remove.headers['accept'], undefined);

  assert.equal(await runner.verify(), false, '403 means removed');
  assert.equal(await runner.unregister(), false);
});

test('requestBuild: 204 gives null, last_update is echoed, the payload is decoded', async (t) => {
  const { fake, runner } = await setUp(t);
  const queued = fake.queue.splice(0);
  fake.lastUpdateHeader = 'a nice timestamp';
  assert.equal(await runner.requestBuild(), null);
  const first = jsonBody(fake.requests[0]);
  assert.equal(first['last_update'], undefined, 'no last_update before the server sent one');
  assert.equal(runner.lastUpdate, 'a nice timestamp');

  fake.queue.push(...queued);
  const build = await takeBuild(runner);
  const request = fake.requests[1];
  assert.ok(request);
  assert.equal(request.url, '/ci/api/v1/builds/register.json');
  assert.equal(
    request.body.toString(),
    `{"info":${expectedBuildInfo},"token":"${RUNNER_TOKEN}","last_update":"a nice timestamp"}`,
  );
  assert.equal(request.headers['accept'], 'application/json');
  assert.equal(build.id, 11);
  assert.equal(build.token, 'build-token-11');
  assert.equal(build.depends_on_builds[0]?.artifacts_file?.filename, 'artifacts.zip');
});

test('requestBuild rejects a JSON reply with a charset (runners up to 1.9.1 do)', async (t) => {
  const { fake, runner, baseUrl } = await setUp(t);
  fake.jsonContentType = 'application/json; charset=utf-8';
  await assert.rejects(runner.requestBuild(), (e: unknown) => e instanceof RunnerProtocolError && e.kind === 'content-type');
  await assert.rejects(
    RunnerSimulator.register(baseUrl, REGISTRATION_TOKEN),
    (e: unknown) => e instanceof RunnerProtocolError && e.kind === 'content-type',
  );
});

test('requestBuild throws on a payload type mismatch ("id":"10") and on 403', async (t) => {
  const { fake, runner } = await setUp(t, packageBuild({ id: '10' }));
  await assert.rejects(runner.requestBuild(), (e: unknown) => e instanceof RunnerProtocolError && e.kind === 'decode');
  fake.runnerTokens.clear();
  await assert.rejects(runner.requestBuild(), (e: unknown) => e instanceof RunnerProtocolError && e.status === 403);
});

test('pollUntilBuild polls until the server hands out a build', async (t) => {
  const { fake, runner } = await setUp(t);
  const queued = fake.queue.splice(0);
  setTimeout(() => fake.queue.push(...queued), 50);
  const build = await runner.pollUntilBuild(5_000);
  assert.equal(build.id, 11);
  assert.ok(fake.requestsTo('POST', /register\.json$/).length >= 2);
});

// ---------------------------------------------------------------------------------------------------
// Whole builds
// ---------------------------------------------------------------------------------------------------

test('runBuild: running PUT, filtered download, byte-offset patches, chunked upload, final PUT', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.requests.length = 0;
  const result = await runner.runBuild(build, {
    output: ['héllo\n', 'wörld ✓\n', ''],
    artifacts: { files: { 'out/pkg.tar': 'package bytes', 'out/ü.txt': Buffer.from([1, 2, 3]) } },
    finalOutput: 'Job succeeded\n',
  });

  assert.equal(result.state, 'success');
  assert.equal(result.trace, 'héllo\nwörld ✓\nJob succeeded\n');
  assert.equal(result.failureReason, undefined);
  const sequence = fake.requests.map((r) => `${r.method} ${r.url}`);
  assert.deepEqual(sequence, [
    'PUT /ci/api/v1/builds/11.json',
    'GET /ci/api/v1/builds/9/artifacts',
    'PATCH /ci/api/v1/builds/11/trace.txt',
    'PATCH /ci/api/v1/builds/11/trace.txt',
    'PATCH /ci/api/v1/builds/11/trace.txt',
    'POST /ci/api/v1/builds/11/artifacts?expire_in=1+week',
    'PUT /ci/api/v1/builds/11.json',
  ]);
  const [running, download, patch1, patch2, keepAlive, upload, final] = fake.requests;

  // 1. state-only PUT with the runner token
  assert.equal(running?.body.toString(), `{"info":${expectedBuildInfo},"token":"${RUNNER_TOKEN}","state":"running"}`);

  // 2. dependency download: its own token, Go's default User-Agent, no body
  assert.ok(download);
  assert.equal(download.headers['build-token'], 'build-token-9');
  assert.ok(download.headerNames.includes('Build-Token'));
  assert.equal(download.headers['user-agent'], GO_DEFAULT_USER_AGENT);
  assert.equal(download.headers['content-type'], undefined);
  assert.equal(download.headers['content-length'], undefined);
  assert.equal(download.headers['transfer-encoding'], undefined);
  assert.deepEqual(Object.keys(result.downloaded), ['compile']);
  assert.deepEqual(result.downloaded['compile'], { 'out/app.bin': Buffer.from([0, 1, 2, 255]), 'out/readme.txt': Buffer.from('compiled\n') });

  // 3. patches: UTF-8 byte offsets, exclusive limit, raw bytes, keep-alive N-N
  assert.deepEqual(result.patches.map((p) => `${p.range} ${p.status}`), ['0-7 202', '7-18 202', '18-18 202']);
  for (const patch of [patch1, patch2, keepAlive]) {
    assert.ok(patch);
    assert.equal(patch.headers['content-type'], 'text/plain');
    assert.equal(patch.headers['build-token'], 'build-token-11');
    assert.equal(patch.headers['user-agent'], RUNNER_USER_AGENT);
    assert.ok(patch.headerNames.includes('Content-Range') && patch.headerNames.includes('Build-Token'));
  }
  assert.equal(patch1?.headers['content-range'], '0-7');
  assert.equal(patch1?.body.toString(), 'héllo\n');
  assert.equal(patch2?.headers['content-range'], '7-18');
  assert.equal(patch2?.body.toString(), 'wörld ✓\n');
  assert.equal(keepAlive?.headers['content-range'], '18-18');
  assert.equal(keepAlive?.headers['content-length'], '0');
  // Nothing else on the wire: Host and Connection come from node:http, Accept-Encoding from Go's Transport.
  assert.deepEqual(
    patch1?.headerNames.slice().sort(),
    ['Accept-Encoding', 'Build-Token', 'Connection', 'Content-Length', 'Content-Range', 'Content-Type', 'Host', 'User-Agent'],
  );
  assert.deepEqual(download.headerNames.slice().sort(), ['Accept-Encoding', 'Build-Token', 'Connection', 'Host', 'User-Agent']);

  // 4. upload: chunked, no Content-Length, one `file` part named after artifacts:name
  assert.ok(upload);
  assert.equal(upload.headers['transfer-encoding'], 'chunked');
  assert.equal(upload.headers['content-length'], undefined);
  assert.equal(upload.headers['build-token'], 'build-token-11');
  assert.equal(upload.headers['user-agent'], RUNNER_USER_AGENT);
  assert.match(upload.headers['content-type'] ?? '', /^multipart\/form-data; boundary=[0-9a-f]{60}$/);
  const seen = fake.uploads[0];
  assert.ok(seen);
  assert.equal(seen.partHeaders, 'Content-Disposition: form-data; name="file"; filename="my art.zip"\r\nContent-Type: application/octet-stream');
  assert.deepEqual(await unzipToMap(seen.zip), { 'out/pkg.tar': Buffer.from('package bytes'), 'out/ü.txt': Buffer.from([1, 2, 3]) });
  assert.equal(result.uploads[0]?.status, 201);

  // 5. final PUT with the whole trace
  assert.equal(
    final?.body.toString(),
    `{"info":${expectedBuildInfo},"token":"${RUNNER_TOKEN}","state":"success","trace":"héllo\\nwörld ✓\\nJob succeeded\\n"}`,
  );
  assert.deepEqual(result.finalUpdate, { outcome: 'ok', attempts: 1, status: 200 });
  assert.equal(fake.builds.get(11)?.trace.toString(), result.trace);
  assert.equal(fake.builds.get(11)?.status, 'success');
});

test('runBuild: the empty query "?" when expire_in is not set, default artifacts.zip name', async (t) => {
  const { fake, runner } = await setUp(t, packageBuild({ options: { artifacts: { paths: ['out/'] } } }));
  const build = await takeBuild(runner);
  fake.requests.length = 0;
  const result = await runner.runBuild(build, { output: ['x\n'], artifacts: { files: { 'out/a': 'a' } } });
  assert.equal(result.state, 'success');
  assert.ok(fake.requests.some((r) => r.url === '/ci/api/v1/builds/11/artifacts?'));
  assert.match(fake.uploads[0]?.partHeaders ?? '', /filename="artifacts\.zip"/);
  assert.deepEqual(Object.keys(result.downloaded).sort(), ['compile', 'lint'], 'no dependencies option = all');
});

test('runBuild: a 416 makes the runner resend at once from the server offset', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.dropPatches.add(1); // the server acknowledges the first patch but loses it
  const result = await runner.runBuild(build, { output: ['héllo\n', 'second\n'] });
  assert.deepEqual(
    result.patches.map((p) => `${p.range} ${p.status}`),
    ['0-7 202', '7-14 416', '0-14 202'],
  );
  assert.equal(result.patches[1]?.serverRange, '0-0');
  const resent = fake.requestsTo('PATCH', /trace\.txt$/)[2];
  assert.equal(resent?.headers['content-range'], '0-14');
  assert.equal(resent?.body.toString(), 'héllo\nsecond\n');
  assert.equal(result.state, 'success');
  assert.equal(fake.builds.get(11)?.trace.toString(), 'héllo\nsecond\n');
});

test('runBuild: a second 416 fails the tick; the next tick sends the same range again', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.patchResponder = (ordinal) => (ordinal <= 2 ? { status: 416, headers: { Range: '0-0' } } : undefined);
  const result = await runner.runBuild(build, { output: ['a', 'b'] });
  assert.deepEqual(result.patches.map((p) => `${p.range} ${p.status}`), ['0-1 416', '0-1 416', '0-2 202']);
  assert.equal(result.state, 'success');
});

test('runBuild: a 416 Range beyond the local trace leads to a full PUT instead of a patch', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.patchResponder = (ordinal) => (ordinal === 1 ? { status: 416, headers: { Range: '0-100' } } : undefined);
  const result = await runner.runBuild(build, { output: ['short\n', 'more\n'] });
  assert.deepEqual(result.patches.map((p) => `${p.range} ${p.status}`), ['0-6 416', '6-11 202']);
  assert.deepEqual(
    result.puts.map((p) => `${p.state} ${p.traceBytes} ${p.status}`),
    ['running null 200', 'running 6 200', 'success 11 200'],
  );
  assert.equal(result.fullTraceMode, false, 'an oversized Range does not switch to full mode');
});

test('runBuild: a 416 without a usable Range header is a server bug (the runner would panic)', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.patchResponder = () => ({ status: 416 });
  await assert.rejects(runner.runBuild(build, { output: ['x'] }), (e: unknown) => e instanceof RunnerProtocolError && e.kind === 'protocol');
});

test('runBuild: Build-Status canceled aborts the build; the final PUT reports failed', async (t) => {
  const { fake, runner } = await setUp(t, packageBuild({ options: { artifacts: { paths: ['out/'], when: 'always' } } }));
  const build = await takeBuild(runner);
  fake.cancelAfterStoredPatches = 2;
  const ticks: number[] = [];
  const result = await runner.runBuild(build, {
    output: ['one\n', 'two\n', 'three\n', 'four\n'],
    artifacts: { files: { 'out/a': 'a' } },
    beforeTick: (tick) => {
      ticks.push(tick);
    },
  });
  assert.equal(result.state, 'canceled');
  assert.equal(result.reportedState, 'failed');
  assert.deepEqual(result.patches.map((p) => `${p.range} ${p.status} ${p.buildStatus}`), ['0-4 202 running', '4-8 202 canceled']);
  assert.deepEqual(ticks, [0, 1], 'the script is killed after the abort');
  assert.equal(result.uploads.length, 0, 'an aborted build uploads nothing');
  assert.equal(result.trace, 'one\ntwo\n');
  const final = result.puts[result.puts.length - 1];
  assert.deepEqual(final, { state: 'failed', traceBytes: 8, status: 404, final: true });
  assert.equal(result.finalUpdate.outcome, 'aborted', 'GitLab answers 404 for a build that is no longer running');
});

test('runBuild: 403 on PATCH aborts too', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.patchResponder = () => ({ status: 403 });
  const result = await runner.runBuild(build, { output: ['a', 'b'] });
  assert.equal(result.state, 'canceled');
  assert.equal(result.patches.length, 1);
});

test('runBuild: 404 on PATCH switches to full-trace PUTs for the rest of the build', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.patchUnsupported = true;
  const result = await runner.runBuild(build, { output: ['héllo\n', 'more\n', ''] });
  assert.equal(result.state, 'success');
  assert.equal(result.fullTraceMode, true);
  assert.deepEqual(result.patches.map((p) => `${p.range} ${p.status}`), ['0-7 404']);
  assert.deepEqual(
    result.puts.map((p) => `${p.state} ${p.traceBytes} ${p.status}`),
    ['running null 200', 'running 7 200', 'running 12 200', 'running 12 200', 'success 12 200'],
  );
  const puts = fake.requestsTo('PUT', /11\.json$/);
  assert.equal(jsonBody(puts[1])['trace'], 'héllo\n');
  assert.equal(jsonBody(puts[2])['trace'], 'héllo\nmore\n');
  assert.equal(fake.builds.get(11)?.trace.toString(), 'héllo\nmore\n');
});

test('runBuild: a build shorter than one tick sends only the final PUT', async (t) => {
  const { fake, runner } = await setUp(t, packageBuild({ depends_on_builds: [] }));
  const build = await takeBuild(runner);
  fake.requests.length = 0;
  const result = await runner.runBuild(build, { output: ['quick\n'], shorterThanOneTick: true });
  assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.url}`), ['PUT /ci/api/v1/builds/11.json']);
  assert.equal(jsonBody(fake.requests[0])['trace'], 'quick\n');
  assert.equal(result.state, 'success');
});

test('runBuild: the final PUT is retried while the server answers "failed"', async (t) => {
  const { fake, runner } = await setUp(t, packageBuild({ depends_on_builds: [] }));
  const build = await takeBuild(runner);
  fake.finalPutFailures = 2;
  const result = await runner.runBuild(build, { output: ['x'], result: 'failed' });
  assert.equal(result.state, 'failed');
  assert.deepEqual(result.finalUpdate, { outcome: 'ok', attempts: 3, status: 200 });
  assert.equal(fake.builds.get(11)?.status, 'failed');
});

test('runBuild: the final PUT retries on connection refused and gives up after the bound', async (t) => {
  const { fake, baseUrl } = await setUp(t, packageBuild({ depends_on_builds: [] }));
  const runner = await RunnerSimulator.register(baseUrl, REGISTRATION_TOKEN, {}, { ...fastOptions, maxFinalUpdateAttempts: 3 });
  t.after(() => runner.close());
  const build = await takeBuild(runner);
  await fake.close();
  const result = await runner.runBuild(build, { shorterThanOneTick: true });
  assert.deepEqual(result.finalUpdate, { outcome: 'gave-up', attempts: 3, status: null });
  assert.deepEqual(result.puts.map((p) => p.status), [0, 0, 0]);
});

test('runBuild: a forbidden dependency download fails the build before the script', async (t) => {
  const build = packageBuild({ depends_on_builds: [{ ...dependency(9, 'compile'), token: 'wrong-token' }] });
  const { fake, runner } = await setUp(t, build);
  const payload = await takeBuild(runner);
  const result = await runner.runBuild(payload, { output: ['never\n'] });
  assert.equal(result.state, 'failed');
  assert.match(result.failureReason ?? '', /403/);
  assert.equal(result.patches.length, 0, 'the user script did not run');
  assert.equal(fake.requestsTo('GET', /artifacts$/).length, 1, '403 is not retried');
});

test('runBuild: other download statuses are retried twice, 1 retry delay apart', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.downloadFailures = 2;
  const result = await runner.runBuild(build, { output: ['x'] });
  assert.equal(result.state, 'success');
  assert.deepEqual(Object.keys(result.downloaded), ['compile']);
  assert.equal(fake.requestsTo('GET', /artifacts$/).length, 3);
});

test('runBuild: three failed downloads fail the build', async (t) => {
  const { fake, runner } = await setUp(t);
  const build = await takeBuild(runner);
  fake.downloadFailures = 3;
  const result = await runner.runBuild(build, { output: ['x'] });
  assert.equal(result.state, 'failed');
  assert.match(result.failureReason ?? '', /500/);
  assert.equal(fake.requestsTo('GET', /artifacts$/).length, 3);
});

test('runBuild: a dependency artifact that is not a zip fails the build without retry', async (t) => {
  const { fake, runner } = await setUp(t, packageBuild({ depends_on_builds: [dependency(99, 'compile')] }));
  fake.addBuild({ id: 99, token: 'build-token-99', status: 'success', trace: Buffer.alloc(0), artifacts: Buffer.from('not a zip') });
  const build = await takeBuild(runner);
  const result = await runner.runBuild(build, { output: ['x'] });
  assert.equal(result.state, 'failed');
  assert.match(result.failureReason ?? '', /not a valid zip/);
  assert.equal(fake.requestsTo('GET', /artifacts$/).length, 1, 'a bad zip is not retried');
});

test('runBuild: a failed upload is retried, and on_failure uploads for failed builds', async (t) => {
  const { fake, runner } = await setUp(
    t,
    packageBuild({ depends_on_builds: [], options: { artifacts: { paths: ['logs/'], when: 'on_failure' } } }),
  );
  const build = await takeBuild(runner);
  fake.uploadFailures = 1;
  const result = await runner.runBuild(build, { output: ['boom\n'], result: 'failed', artifacts: { files: { 'logs/x.log': 'log' } } });
  assert.equal(result.state, 'failed');
  assert.deepEqual(result.uploads.map((u) => u.status), [500, 201]);
  assert.deepEqual(await unzipToMap(fake.uploads[0]?.zip ?? Buffer.alloc(0)), { 'logs/x.log': Buffer.from('log') });
});

test('uploadArtifacts streams large bodies and survives a 413 while streaming', async (t) => {
  const { fake, runner } = await setUp(t);
  fake.maxArtifactsBytes = 256 * 1024;
  const total = 32 * 1024 * 1024;
  const result = await runner.uploadArtifacts(11, 'build-token-11', { randomBytes: total });
  assert.ok(result.status === 413 || result.error !== undefined, `expected 413 or a captured error, got ${result.status}`);
  assert.equal(result.requestCompleted, false);
  assert.ok(result.bytesSent < total, `stopped early (${result.bytesSent} bytes sent)`);
  const request = fake.requestsTo('POST', /artifacts$/)[0];
  assert.equal(request?.headers['transfer-encoding'], 'chunked');
  assert.equal(request?.headers['content-length'], undefined);
  // The simulator still works afterwards.
  assert.equal(await runner.verify(), true);
});
