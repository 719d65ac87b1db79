'use strict';
// Dredd hookfile for `make contract` (run by test/contract/run.sh; see README.md next to it).
//
// Dredd sends one request per (operation, documented status) built from openapi.yaml's
// examples, in spec order, through `prism proxy --errors` to our real server. This file
//  - seeds the server in beforeAll, straight at the server (not through the proxy), through
//    the user API and the runner API, so that every documented status can happen for real;
//  - rewrites each transaction in beforeEach (ids, tokens, headers, bodies) so the server
//    answers the status that transaction expects;
//  - checks in afterEach what Dredd cannot see (e.g. the exact `Range` after a PATCH).
// Every transaction must have a plan in PLANS below; one without fails, so a new status in
// openapi.yaml cannot go untested silently. Skips carry their reason in SKIPPED.
const crypto = require('node:crypto');
const http = require('node:http');
const hooks = require('hooks');

const SERVER_URL = requiredEnv('CONTRACT_SERVER_URL');
const REGISTRATION_TOKEN = requiredEnv('CONTRACT_REGISTRATION_TOKEN');
const ADMIN_TOKEN = requiredEnv('CONTRACT_ADMIN_TOKEN');
const BODY_LIMIT_BYTES = Number(requiredEnv('CONTRACT_BODY_LIMIT_BYTES'));
const ARTIFACTS_LIMIT_BYTES = Number(requiredEnv('CONTRACT_ARTIFACTS_LIMIT_BYTES'));

const RUNNER_USER_AGENT = 'gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)';
const UNKNOWN_ID = 999999;
const WRONG_TOKEN = 'not-a-valid-token';
const SHA = '97de212e80737a608d939f648d959671fb0a0142';
/** An empty zip (just its end record): a valid archive, and ASCII, so Prism forwards it intact. */
const EMPTY_ZIP = Buffer.concat([Buffer.from('PK\x05\x06'), Buffer.alloc(18)]);
const ARCHIVE_PART = { name: 'file', filename: 'rspec-results.zip', data: EMPTY_ZIP };
/** The trace the seeded compile builds finish with: exactly openapi.yaml's job trace example. */
const COMPILE_TRACE = 'Running with gitlab-ci-multi-runner 1.11.5 (cbfcb5c8)\n$ make\nBuild succeeded\n';

// Every artifacts key is set, and rspec depends on compile: Dredd requires every key of
// the build examples (options.artifacts.*, options.dependencies, depends_on_builds[0].artifacts_file).
const ARTIFACTS_YAML = (name) => `  artifacts:\n    paths: [out/]\n    name: ${name}\n    when: on_success\n    expire_in: 1 week\n`;
const COMPILE_AND_RSPEC = [
  'compile:',
  '  stage: build',
  '  script: make',
  ARTIFACTS_YAML('compile'),
  'rspec:',
  '  stage: test',
  '  script: rspec',
  '  dependencies: [compile]',
  ARTIFACTS_YAML('rspec-results'),
];
/** The shared runner's project: what a team would submit. */
const MAIN_CI = ['stages: [build, test, deploy]', ...COMPILE_AND_RSPEC, 'deploy:', '  stage: deploy', '  script: cap deploy', ''].join('\n');
/** The queue project: after compile, two test builds wait for the register transactions. */
const QUEUE_CI = [
  'stages: [build, test]',
  ...COMPILE_AND_RSPEC,
  'spinach:',
  '  stage: test',
  '  script: spinach',
  '  dependencies: [compile]',
  ARTIFACTS_YAML('spinach-results'),
  '',
].join('\n');

/** What beforeAll created; every plan reads its ids and tokens from here. */
const seeded = {};
let seedingError;

// ---------------------------------------------------------------------------------------------
// HTTP straight to the server (seeding and look-ups; Dredd's own requests go through Prism)
// ---------------------------------------------------------------------------------------------

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this hookfile through test/contract/run.sh`);
  return value;
}

function send(method, path, { headers = {}, body } = {}) {
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const url = new URL(path, SERVER_URL);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: { ...headers, ...(payload ? { 'Content-Length': payload.length } : {}) } },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function sendJson(method, path, value, headers = {}) {
  const reply = await send(method, path, {
    headers: { 'Content-Type': 'application/json', ...headers },
    body: value === undefined ? undefined : JSON.stringify(value),
  });
  const text = reply.body.toString('utf8');
  return { ...reply, text, json: text && reply.headers['content-type'] === 'application/json' ? JSON.parse(text) : undefined };
}

async function expectJson(what, expectedStatus, replyPromise) {
  const reply = await replyPromise;
  if (reply.status !== expectedStatus) throw new Error(`seeding: ${what}: expected ${expectedStatus}, got ${reply.status} ${reply.text}`);
  return reply.json;
}

const userApi = (method, path, value) => sendJson(method, path, value, { 'PRIVATE-TOKEN': ADMIN_TOKEN });

function createProject(fields) {
  return expectJson(`create project ${fields.name}`, 201, userApi('POST', '/api/v4/projects', fields));
}

function createPipeline(projectId) {
  return expectJson(`pipeline of project ${projectId}`, 201, userApi('POST', `/api/v4/projects/${projectId}/pipeline`, { ref: 'master', sha: SHA }));
}

function registerRunner(token, description) {
  return expectJson(
    `register runner ${description}`,
    201,
    sendJson('POST', '/ci/api/v1/runners/register.json', { token, description, run_untagged: true }, { 'User-Agent': RUNNER_USER_AGENT }),
  );
}

/** The runner takes its next build; it must be the job named `expectedName`. */
async function takeBuild(runner, expectedName) {
  const build = await expectJson(
    `runner ${runner.id} takes ${expectedName}`,
    201,
    sendJson('POST', '/ci/api/v1/builds/register.json', { token: runner.token }, { 'User-Agent': RUNNER_USER_AGENT }),
  );
  if (build.name !== expectedName) throw new Error(`seeding: runner ${runner.id} got ${build.name} (#${build.id}), expected ${expectedName}`);
  return build;
}

function uploadArtifacts(build) {
  const form = multipart([{ name: 'file', filename: 'artifacts.zip', data: EMPTY_ZIP }]);
  return send('POST', `/ci/api/v1/builds/${build.id}/artifacts?expire_in=1+week`, {
    headers: { 'Content-Type': form.contentType, 'BUILD-TOKEN': build.token, 'User-Agent': RUNNER_USER_AGENT },
    body: form.body,
  }).then((reply) => {
    if (reply.status !== 201) throw new Error(`seeding: artifacts of build ${build.id}: ${reply.status} ${reply.body}`);
  });
}

function finishBuild(runner, build, trace) {
  return expectJson(
    `finish build ${build.id}`,
    200,
    sendJson('PUT', `/ci/api/v1/builds/${build.id}.json`, { token: runner.token, state: 'success', trace }, { 'User-Agent': RUNNER_USER_AGENT }),
  );
}

/** compile → artifacts → success, so the pipeline's test builds become pending. */
async function runCompile(runner) {
  const compile = await takeBuild(runner, 'compile');
  await uploadArtifacts(compile);
  await finishBuild(runner, compile, COMPILE_TRACE);
  return compile;
}

/** A new pipeline of the main project whose rspec build is running on the shared runner. */
async function runningRspec() {
  const pipeline = await createPipeline(seeded.main.id);
  const compile = await runCompile(seeded.shared);
  const rspec = await takeBuild(seeded.shared, 'rspec');
  return { pipeline, compile, rspec };
}

/** Stored trace length in bytes, read through the user API. */
async function traceLength(projectId, buildId) {
  const reply = await send('GET', `/api/v4/projects/${projectId}/jobs/${buildId}/trace`, { headers: { 'PRIVATE-TOKEN': ADMIN_TOKEN } });
  if (reply.status !== 200) throw new Error(`trace of build ${buildId}: ${reply.status}`);
  return reply.body.length;
}

function multipart(parts) {
  const boundary = `contract-${crypto.randomBytes(12).toString('hex')}`;
  const chunks = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename) head += `; filename="${part.filename}"\r\nContent-Type: application/zip`;
    chunks.push(Buffer.from(`${head}\r\n\r\n`), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

async function seed() {
  seeded.main = await createProject({ name: 'diaspora', repo_url: 'https://git.example.com/diaspora/diaspora.git', ci_config: MAIN_CI });
  seeded.shared = await registerRunner(REGISTRATION_TOKEN, 'contract-shared');
  // Pipeline 1: its compile job (finished, trace, artifacts) serves the user API's job reads.
  seeded.first = await runningRspec();
  seeded.secondRspec = (await runningRspec()).rspec;
  seeded.traceRspec = (await runningRspec()).rspec;
  seeded.artifactsRspec = (await runningRspec()).rspec;

  // Shared runners disabled: only its specific runner sees the queue project's builds.
  seeded.queue = await createProject({ name: 'queue', repo_url: 'https://git.example.com/queue.git', ci_config: QUEUE_CI, shared_runners_enabled: false });
  seeded.queueRunner = await registerRunner(seeded.queue.runners_token, 'contract-queue');
  await createPipeline(seeded.queue.id);
  await runCompile(seeded.queueRunner); // rspec and spinach are now pending for the register transactions

  // A specific runner of a project with no pipeline: it never has a build (204 / 404).
  seeded.idleProject = await createProject({ name: 'idle', repo_url: 'https://git.example.com/idle.git', shared_runners_enabled: false });
  seeded.idleRunner = await registerRunner(seeded.idleProject.runners_token, 'contract-idle');

  seeded.doomedRunners = [await registerRunner(REGISTRATION_TOKEN, 'contract-doomed-1'), await registerRunner(REGISTRATION_TOKEN, 'contract-doomed-2')];
}

// ---------------------------------------------------------------------------------------------
// Rewriting a Dredd transaction
// ---------------------------------------------------------------------------------------------

/** `path > summary > status > media type` → its parts. */
function describe(t) {
  const [pathTemplate, , status] = t.name.split(' > ');
  return {
    pathTemplate,
    // `.json` variants share the plan of their plain route; `json` tells them apart.
    route: `${t.request.method} ${pathTemplate.replace(/\.json$/, '')}`,
    status: Number(status),
    json: pathTemplate.endsWith('.json'),
  };
}

/** Rebuilds the request path from the transaction's template with real path and query values. */
function setPath(t, params = {}, query) {
  const { pathTemplate } = describe(t);
  const current = new URL(t.fullPath, 'http://x');
  const path = pathTemplate.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in params)) throw new Error(`no value for ${whole} in ${t.name}`);
    return encodeURIComponent(String(params[name]));
  });
  const search = new URLSearchParams(current.search);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) search.delete(key);
    else search.set(key, value);
  }
  const qs = search.toString();
  t.fullPath = qs ? `${path}?${qs}` : path;
  t.request.uri = t.fullPath;
}

function setHeader(t, name, value) {
  for (const key of Object.keys(t.request.headers)) {
    if (key.toLowerCase() === name.toLowerCase()) delete t.request.headers[key];
  }
  if (value !== undefined) t.request.headers[name] = value;
}

function jsonBody(t) {
  return t.request.body ? JSON.parse(t.request.body) : {};
}

function omit(object, key) {
  const copy = { ...object };
  delete copy[key];
  return copy;
}

function setJsonBody(t, value) {
  setHeader(t, 'Content-Type', 'application/json');
  t.request.body = JSON.stringify(value);
}

/** Points a build-token route at build `id`. The server reads `?token=` first, then BUILD-TOKEN: both are set. */
function target(t, id, token) {
  setHeader(t, 'BUILD-TOKEN', token);
  setPath(t, { id }, { token });
}

function setMultipartBody(t, parts) {
  const form = multipart(parts);
  setHeader(t, 'Content-Type', form.contentType);
  t.request.body = form.body.toString('base64');
  t.request.bodyEncoding = 'base64';
}

/** A body just over the configured limit, so the server refuses it with 413 while it streams. */
const oversized = (limit) => 'x'.repeat(limit + 1024);

// ---------------------------------------------------------------------------------------------
// Plans: route → status → how to make the server answer it (and what to check after)
// ---------------------------------------------------------------------------------------------

/** Transactions skipped on purpose, with the reason (also listed in README.md). */
const SKIPPED = {};

const PLANS = {
  'POST /ci/api/v1/builds/register': {
    // The queue runner gets the queue project's pending rspec, then spinach.
    201: (t) => setJsonBody(t, { ...jsonBody(t), token: seeded.queueRunner.token }),
    204: (t) => {
      setJsonBody(t, { ...jsonBody(t), token: seeded.idleRunner.token });
      setHeader(t, 'User-Agent', RUNNER_USER_AGENT);
    },
    400: (t) => setJsonBody(t, omit(jsonBody(t), 'token')),
    403: (t) => setJsonBody(t, { ...jsonBody(t), token: WRONG_TOKEN }),
    // No build, and Dredd's own User-Agent is not a runner's.
    404: (t) => setJsonBody(t, { ...jsonBody(t), token: seeded.idleRunner.token }),
    413: (t) => setJsonBody(t, { ...jsonBody(t), token: seeded.idleRunner.token, padding: oversized(BODY_LIMIT_BYTES) }),
  },

  'PUT /ci/api/v1/builds/{id}': {
    // The example body finishes the build (`state: success`): one running build per route.
    200: (t, { json }) => {
      const build = json ? seeded.secondRspec : seeded.first.rspec;
      setPath(t, { id: build.id });
      setJsonBody(t, { ...jsonBody(t), token: seeded.shared.token });
    },
    400: (t) => {
      setPath(t, { id: seeded.first.rspec.id });
      setJsonBody(t, omit(jsonBody(t), 'token'));
    },
    403: (t) => {
      setPath(t, { id: seeded.first.rspec.id });
      setJsonBody(t, { ...jsonBody(t), token: WRONG_TOKEN });
    },
    // `PUT builds/-1` is how a runner checks its token: 404 means alive.
    404: (t, { json }) => {
      setPath(t, { id: json ? UNKNOWN_ID : -1 });
      setJsonBody(t, { ...jsonBody(t), token: seeded.shared.token });
    },
    413: (t) => {
      setPath(t, { id: seeded.first.rspec.id });
      setJsonBody(t, { ...jsonBody(t), token: seeded.shared.token, trace: oversized(BODY_LIMIT_BYTES) });
    },
  },

  'PATCH /ci/api/v1/builds/{id}/trace.txt': {
    202: async (t, { check }) => {
      const build = seeded.traceRspec;
      const start = await traceLength(seeded.main.id, build.id);
      const end = start + Buffer.byteLength(t.request.body);
      target(t, build.id, build.token);
      setHeader(t, 'Content-Range', `${start}-${end}`);
      t.expected.body = `0-${end}`;
      check(() => expectHeader(t, 'range', `0-${end}`) || expectHeader(t, 'build-status', 'running'));
    },
    400: (t) => {
      target(t, seeded.traceRspec.id, seeded.traceRspec.token);
      setHeader(t, 'Content-Range', undefined);
    },
    403: (t) => target(t, seeded.traceRspec.id, WRONG_TOKEN),
    404: (t) => target(t, UNKNOWN_ID, seeded.traceRspec.token),
    413: async (t) => {
      const build = seeded.traceRspec;
      const start = await traceLength(seeded.main.id, build.id);
      t.request.body = oversized(BODY_LIMIT_BYTES);
      target(t, build.id, build.token);
      setHeader(t, 'Content-Range', `${start}-${start + t.request.body.length}`);
    },
    416: async (t, { check }) => {
      const build = seeded.traceRspec;
      const length = await traceLength(seeded.main.id, build.id);
      target(t, build.id, build.token);
      setHeader(t, 'Content-Range', `${length + 100}-${length + 100 + Buffer.byteLength(t.request.body)}`);
      check(() => expectHeader(t, 'range', `0-${length}`));
    },
  },

  // Upload, download and delete run in that order on the same running build, for each route.
  'POST /ci/api/v1/builds/{id}/artifacts': {
    201: (t) => {
      target(t, seeded.artifactsRspec.id, seeded.artifactsRspec.token);
      setMultipartBody(t, [ARCHIVE_PART]);
    },
    // A multipart body without its `file` part: GitLab's "Missing artifacts file!".
    400: (t) => {
      target(t, seeded.artifactsRspec.id, seeded.artifactsRspec.token);
      setMultipartBody(t, [{ name: 'note', data: 'no file here' }]);
    },
    403: (t) => {
      target(t, seeded.artifactsRspec.id, WRONG_TOKEN);
      setMultipartBody(t, [ARCHIVE_PART]);
    },
    404: (t) => {
      target(t, UNKNOWN_ID, seeded.artifactsRspec.token);
      setMultipartBody(t, [ARCHIVE_PART]);
    },
    413: (t) => {
      target(t, seeded.artifactsRspec.id, seeded.artifactsRspec.token);
      setMultipartBody(t, [{ ...ARCHIVE_PART, data: oversized(ARTIFACTS_LIMIT_BYTES) }]);
    },
  },
  'GET /ci/api/v1/builds/{id}/artifacts': {
    ...buildTokenRoute(() => seeded.artifactsRspec),
    200: (t, { check }) => {
      target(t, seeded.artifactsRspec.id, seeded.artifactsRspec.token);
      check(() => expectArchive(t));
    },
  },
  'DELETE /ci/api/v1/builds/{id}/artifacts': buildTokenRoute(() => seeded.artifactsRspec),

  'POST /ci/api/v1/runners/register': {
    201: (t) => setJsonBody(t, { ...jsonBody(t), token: REGISTRATION_TOKEN }),
    400: (t) => setJsonBody(t, omit(jsonBody(t), 'token')),
    403: (t) => setJsonBody(t, { ...jsonBody(t), token: WRONG_TOKEN }),
    // Neither a tag nor run_untagged: GitLab answered 404 to an invalid runner.
    404: (t) => {
      setJsonBody(t, { ...omit(jsonBody(t), 'tag_list'), token: REGISTRATION_TOKEN, run_untagged: false });
    },
    413: (t) => setJsonBody(t, { ...jsonBody(t), token: REGISTRATION_TOKEN, description: oversized(BODY_LIMIT_BYTES) }),
  },
  'DELETE /ci/api/v1/runners/delete': {
    200: (t, { json }) => setJsonBody(t, { token: seeded.doomedRunners[json ? 1 : 0].token }),
    400: (t) => setJsonBody(t, {}),
    403: (t) => setJsonBody(t, { token: WRONG_TOKEN }),
    413: (t) => setJsonBody(t, { token: WRONG_TOKEN, padding: oversized(BODY_LIMIT_BYTES) }),
  },

  'POST /api/v4/projects': {
    201: () => {},
    400: (t) => setJsonBody(t, { ...jsonBody(t), name: 5 }),
    401: unauthorized,
    413: (t) => setJsonBody(t, { ...jsonBody(t), ci_config: oversized(BODY_LIMIT_BYTES) }),
  },
  'GET /api/v4/projects/{id}': {
    200: (t) => setPath(t, { id: seeded.main.id }),
    400: (t) => setPath(t, { id: 'abc' }),
    401: (t) => {
      setPath(t, { id: seeded.main.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: UNKNOWN_ID }),
  },
  'POST /api/v4/projects/{id}/pipeline': {
    // The example body has no ci_config: the project's .gitlab-ci.yml is used.
    201: (t) => setPath(t, { id: seeded.main.id }),
    400: (t) => {
      setPath(t, { id: seeded.main.id });
      setJsonBody(t, { ...jsonBody(t), ci_config: 'rspec:\n  stage: nope\n' });
    },
    401: (t) => {
      setPath(t, { id: seeded.main.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: UNKNOWN_ID }),
    413: (t) => {
      setPath(t, { id: seeded.main.id });
      setJsonBody(t, { ...jsonBody(t), ci_config: oversized(BODY_LIMIT_BYTES) });
    },
  },
  'GET /api/v4/projects/{id}/pipelines/{pipeline_id}': userApiReads(() => ({ id: seeded.main.id, pipeline_id: seeded.first.pipeline.id }), 'pipeline_id'),
  'GET /api/v4/projects/{id}/pipelines/{pipeline_id}/jobs': userApiReads(() => ({ id: seeded.main.id, pipeline_id: seeded.first.pipeline.id }), 'pipeline_id'),
  // Pipeline 1's compile job: finished by the shared runner, with the example trace and an archive.
  'GET /api/v4/projects/{id}/jobs/{job_id}': userApiReads(() => ({ id: seeded.main.id, job_id: seeded.first.compile.id }), 'job_id'),
  'GET /api/v4/projects/{id}/jobs/{job_id}/trace': userApiReads(() => ({ id: seeded.main.id, job_id: seeded.first.compile.id }), 'job_id'),
  'GET /api/v4/projects/{id}/jobs/{job_id}/artifacts': {
    ...userApiReads(() => ({ id: seeded.main.id, job_id: seeded.first.compile.id }), 'job_id'),
    200: (t, { check }) => {
      setPath(t, { id: seeded.main.id, job_id: seeded.first.compile.id });
      check(() => expectArchive(t));
    },
  },
};

/** 200 / 400 (non-numeric id) / 403 / 404 (unknown id) of a route that takes a build token. */
function buildTokenRoute(build) {
  return {
    200: (t) => target(t, build().id, build().token),
    400: (t) => target(t, 'abc', build().token),
    403: (t) => target(t, build().id, WRONG_TOKEN),
    404: (t) => target(t, UNKNOWN_ID, build().token),
  };
}

/** 200 / 400 (non-numeric id) / 401 / 404 (unknown id) for a user API read. */
function userApiReads(existing, innerId) {
  return {
    200: (t) => setPath(t, existing()),
    400: (t) => setPath(t, { ...existing(), [innerId]: 'abc' }),
    401: (t) => {
      setPath(t, existing());
      unauthorized(t);
    },
    404: (t) => setPath(t, { ...existing(), [innerId]: UNKNOWN_ID }),
  };
}

function unauthorized(t) {
  setHeader(t, 'PRIVATE-TOKEN', WRONG_TOKEN);
}

/** Dredd does not compare binary bodies: the download must be the archive uploaded, byte for byte. */
function expectArchive(t) {
  const body = Buffer.from(t.real.body || '', t.real.bodyEncoding === 'base64' ? 'base64' : 'utf8');
  return body.equals(EMPTY_ZIP) ? undefined : `body: expected the uploaded archive (${EMPTY_ZIP.length} bytes), got ${body.length} bytes`;
}

function expectHeader(t, name, expected) {
  const actual = t.real.headers[name];
  return actual === expected ? undefined : `${name}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

// ---------------------------------------------------------------------------------------------
// Dredd hooks
// ---------------------------------------------------------------------------------------------

/** afterEach checks registered by the plans, by transaction name. */
const checks = new Map();

hooks.beforeAll((transactions, done) => {
  seed().then(
    () => done(),
    (err) => {
      seedingError = err;
      done();
    },
  );
});

hooks.beforeEach((t, done) => {
  prepare(t).then(
    () => done(),
    (err) => {
      t.fail = `hook error: ${err && err.stack ? err.stack : err}`;
      done();
    },
  );
});

async function prepare(t) {
  if (seedingError) throw seedingError;
  const { route, status, json } = describe(t);
  if (SKIPPED[t.name]) {
    t.skip = true;
    hooks.log(`skipped ${t.name}: ${SKIPPED[t.name]}`);
    return;
  }
  const plan = PLANS[route] && PLANS[route][status];
  if (!plan) throw new Error(`no plan for "${t.name}": add one to test/contract/hooks.cjs`);
  if (t.request.uri.startsWith('/api/v4/')) setHeader(t, 'PRIVATE-TOKEN', ADMIN_TOKEN);
  await plan(t, { json, check: (fn) => checks.set(t.name, fn) });
}

hooks.afterEach((t, done) => {
  const check = checks.get(t.name);
  if (check && t.real) {
    const problem = check();
    if (problem) t.fail = problem;
  }
  done();
});
