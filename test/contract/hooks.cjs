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
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const hooks = require('hooks');
const YAML = require('yaml');

const SPEC = YAML.parse(fs.readFileSync(path.join(__dirname, '../../openapi.yaml'), 'utf8'));

const SERVER_URL = requiredEnv('CONTRACT_SERVER_URL');
const REGISTRATION_TOKEN = requiredEnv('CONTRACT_REGISTRATION_TOKEN');
const ADMIN_TOKEN = requiredEnv('CONTRACT_ADMIN_TOKEN');
const BODY_LIMIT_BYTES = Number(requiredEnv('CONTRACT_BODY_LIMIT_BYTES'));
const ARTIFACTS_LIMIT_BYTES = Number(requiredEnv('CONTRACT_ARTIFACTS_LIMIT_BYTES'));
const VIEWER_TOKEN = requiredEnv('CONTRACT_VIEWER_TOKEN');
const DATA_DIR = requiredEnv('CONTRACT_DATA_DIR');

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
/**
 * Each runner transaction that uses up what it acts on (register takes a build, PUT finishes
 * one, runners/delete removes a runner) is made once per route (plain and `.json`) and request
 * media type: a seeded object for each, keyed by `variantKey`.
 */
const RUNNER_MEDIA = ['json', 'form', 'multipart'];
const VARIANTS = ['plain', 'json'].flatMap((route) => RUNNER_MEDIA.map((media) => `${route}:${media}`));
/** The queue project's test jobs besides rspec: after compile, one pending build per register 201 transaction. */
const QUEUE_TEST_JOBS = ['spinach', 'cucumber', 'rubocop', 'brakeman', 'jasmine'];
/** The queue project: after compile, its test builds wait for the register transactions. */
const QUEUE_CI = [
  'stages: [build, test]',
  ...COMPILE_AND_RSPEC,
  ...QUEUE_TEST_JOBS.flatMap((name) => [`${name}:`, '  stage: test', `  script: ${name}`, '  dependencies: [compile]', ARTIFACTS_YAML(`${name}-results`)]),
  '',
].join('\n');

/** A project whose only job waits to be played. */
const MANUAL_CI = ['stages: [deploy]', 'deploy:', '  stage: deploy', '  script: cap deploy', '  when: manual', ''].join('\n');
/** What triggers run: one job, only on master (so a trigger on `release` gets "No builds created"). */
const TRIGGERED_CI = ['nightly:', '  script: make nightly', '  only: [master]', ''].join('\n');
/** A project with one job that nobody takes (no runner, shared runners off). */
const QUIET_CI = ['build:', '  script: make', ''].join('\n');
/** What a runner says about itself when it registers, so runner details have a version. */
const RUNNER_INFO = { name: 'gitlab-ci-multi-runner', version: '1.11.5', revision: 'cbfcb5c8', platform: 'linux', architecture: 'amd64' };

/** What beforeAll created; every plan reads its ids and tokens from here. */
const seeded = {};
/** The base seeding (issue 2 endpoints) failed: every transaction fails with this. */
let seedingError;
/**
 * Seeding groups that go through issue-3 endpoints (variables, triggers, runner assignment):
 * a group's failure fails only the transactions that use it (see `need`).
 */
const groupErrors = {};

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

function registerRunner(token, description, settings = {}) {
  return expectJson(
    `register runner ${description}`,
    201,
    sendJson(
      'POST',
      '/ci/api/v1/runners/register.json',
      { token, description, run_untagged: true, info: RUNNER_INFO, ...settings },
      { 'User-Agent': RUNNER_USER_AGENT },
    ),
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

function finishBuild(runner, build, trace, state = 'success') {
  return expectJson(
    `finish build ${build.id}`,
    200,
    sendJson('PUT', `/ci/api/v1/builds/${build.id}.json`, { token: runner.token, state, trace }, { 'User-Agent': RUNNER_USER_AGENT }),
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

/** A pipeline of the main project whose compile succeeded and whose rspec failed: the pipeline failed. */
async function failedRspec() {
  const seededPipeline = await runningRspec();
  await finishBuild(seeded.shared, seededPipeline.rspec, 'Running with gitlab-ci-multi-runner 1.11.5\n$ rspec\n1 example, 1 failure\n', 'failed');
  return seededPipeline;
}

/** The pipeline's job called `name`, read through the user API. */
async function pipelineJob(projectId, pipelineId, name) {
  const jobs = await expectJson(`jobs of pipeline ${pipelineId}`, 200, userApi('GET', `/api/v4/projects/${projectId}/pipelines/${pipelineId}/jobs`));
  const job = jobs.find((candidate) => candidate.name === name);
  if (!job) throw new Error(`seeding: pipeline ${pipelineId} has no job ${name}`);
  return job;
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
  // One running rspec per PUT 200 transaction (the example finishes it); pipeline 1's is the first.
  seeded.updateRspecs = { [VARIANTS[0]]: seeded.first.rspec };
  for (const variant of VARIANTS.slice(1)) seeded.updateRspecs[variant] = (await runningRspec()).rspec;
  seeded.traceRspec = (await runningRspec()).rspec;
  seeded.artifactsRspec = (await runningRspec()).rspec;

  // Shared runners disabled: only its specific runner sees the queue project's builds.
  seeded.queue = await createProject({ name: 'queue', repo_url: 'https://git.example.com/queue.git', ci_config: QUEUE_CI, shared_runners_enabled: false });
  seeded.queueRunner = await registerRunner(seeded.queue.runners_token, 'contract-queue');
  await createPipeline(seeded.queue.id);
  await runCompile(seeded.queueRunner); // its test builds are now pending for the register transactions

  // A specific runner of a project with no pipeline: it never has a build (204 / 404).
  seeded.idleProject = await createProject({ name: 'idle', repo_url: 'https://git.example.com/idle.git', shared_runners_enabled: false });
  seeded.idleRunner = await registerRunner(seeded.idleProject.runners_token, 'contract-idle');

  seeded.doomedRunners = {};
  for (const variant of VARIANTS) seeded.doomedRunners[variant] = await registerRunner(REGISTRATION_TOKEN, `contract-doomed-${variant}`);

  await seedIssue3();
  for (const [group, seedGroup] of Object.entries(SEEDING_GROUPS)) {
    try {
      await seedGroup();
    } catch (err) {
      groupErrors[group] = err;
    }
  }
}

/** Objects for the issue-3 transactions that only issue-2 endpoints create. */
async function seedIssue3() {
  // Every build of the main project runs on the shared runner, one pipeline at a time, so
  // these come before any other project that shared runners could serve.
  // Job actions: a pipeline for the refusals (compile finished, rspec running) ...
  seeded.actions = await runningRspec();
  // ... and one object per action that changes it.
  seeded.jobToCancel = (await runningRspec()).rspec;
  const finished = await failedRspec();
  seeded.jobToRetry = finished.rspec;
  seeded.jobToErase = finished.compile;
  // Pipeline actions: a running pipeline to cancel, a failed one to retry.
  seeded.pipelineToCancel = (await runningRspec()).pipeline;
  seeded.pipelineToRetry = (await failedRspec()).pipeline;

  // The auxiliary projects below have shared runners off: nothing of theirs is ever taken.
  const quiet = { shared_runners_enabled: false };
  seeded.manualProject = await createProject({ name: 'manual', repo_url: 'https://git.example.com/manual.git', ci_config: MANUAL_CI, ...quiet });
  const manualPipeline = await createPipeline(seeded.manualProject.id);
  seeded.manualJob = await pipelineJob(seeded.manualProject.id, manualPipeline.id, 'deploy');

  seeded.doomedProject = await createProject({ name: 'doomed', repo_url: 'https://git.example.com/doomed.git', ci_config: QUIET_CI, ...quiet });
  await createPipeline(seeded.doomedProject.id);

  seeded.secretsProject = await createProject({ name: 'secrets', repo_url: 'https://git.example.com/secrets.git', ...quiet });
  seeded.triggeredProject = await createProject({ name: 'triggered', repo_url: 'https://git.example.com/triggered.git', ci_config: TRIGGERED_CI, ...quiet });
  // A trigger names only a ref; with no git repository here, the ref's newest pipeline gives
  // the commit. `release` has one too (its own config), but the project's config runs nothing
  // there: a trigger on it creates no builds.
  await createPipeline(seeded.triggeredProject.id);
  await expectJson(
    'pipeline of the release branch',
    201,
    userApi('POST', `/api/v4/projects/${seeded.triggeredProject.id}/pipeline`, { ref: 'release', sha: SHA, ci_config: QUIET_CI }),
  );

  // Runners for the admin API, each for one job: found by the `docker` filter, paused, deleted;
  // specific runners of the idle project to assign (one unlocked, one locked) and to unassign.
  seeded.dockerRunner = await registerRunner(REGISTRATION_TOKEN, 'contract-docker', { tag_list: 'docker,linux' });
  seeded.runnerToPause = await registerRunner(REGISTRATION_TOKEN, 'contract-pause');
  seeded.runnerToDelete = await registerRunner(REGISTRATION_TOKEN, 'contract-doomed-3');
  seeded.movableRunner = await registerRunner(seeded.idleProject.runners_token, 'contract-movable');
  seeded.lockedRunner = await registerRunner(seeded.idleProject.runners_token, 'contract-locked', { locked: true });
  seeded.twoProjectRunner = await registerRunner(seeded.idleProject.runners_token, 'contract-two-projects');
}

/** Seeding through issue-3 endpoints, by group (see `groupErrors`). */
const SEEDING_GROUPS = {
  async runnerAssignment() {
    await expectJson(
      `assign runner ${seeded.twoProjectRunner.id} to project ${seeded.queue.id}`,
      201,
      userApi('POST', `/api/v4/projects/${seeded.queue.id}/runners`, { runner_id: seeded.twoProjectRunner.id }),
    );
  },
  async variables() {
    const create = (key, value) =>
      expectJson(`variable ${key}`, 201, userApi('POST', `/api/v4/projects/${seeded.secretsProject.id}/variables`, { key, value }));
    seeded.variable = await create('REGISTRY_PASSWORD', 's3cr3t');
    seeded.variableToDelete = await create('OLD_PASSWORD', 'expired');
  },
  async triggers() {
    const create = (project, description) =>
      expectJson(`trigger ${description}`, 201, userApi('POST', `/api/v4/projects/${project.id}/triggers`, { description }));
    seeded.trigger = await create(seeded.triggeredProject, 'contract-nightly');
    seeded.triggerToDelete = await create(seeded.triggeredProject, 'contract-doomed');
    // A valid token of another project: 401, not 404.
    seeded.foreignTrigger = await create(seeded.secretsProject, 'contract-foreign');
  },
};

/** Throws the seeding error of `group` if it failed, so a plan that uses its objects fails with the cause. */
function need(group) {
  if (groupErrors[group]) throw new Error(`seeding group ${group} failed: ${groupErrors[group].message}`);
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

/**
 * Points a build-token route at build `id` with `token` in the body (of the transaction's media
 * type) only: no `?token=`, and BUILD-TOKEN only when `headerToken` is given.
 */
function targetWithBody(t, id, token, headerToken) {
  setPath(t, { id }, { token: undefined });
  setHeader(t, 'BUILD-TOKEN', headerToken);
  setBody(t, { token });
}

/** The trace PATCH chunks by request media type (text/plain sends openapi.yaml's example). */
const TRACE_CHUNKS = {
  'application/octet-stream': '\u001b[32;1m$ make\u001b[0;m\r\n\tok\n',
  // What `curl --data` sends: stored as it is, never form-decoded.
  form: 'step=1&result=%E2%9C%93+ok&&=\n',
};

/** The operation's JSON request example in openapi.yaml (Dredd sends it only for the JSON variant). */
function example(t) {
  const { pathTemplate } = describe(t);
  let requestBody = SPEC.paths[pathTemplate][t.request.method.toLowerCase()].requestBody;
  if (requestBody.$ref) requestBody = SPEC.components.requestBodies[requestBody.$ref.split('/').pop()];
  return structuredClone(requestBody.content['application/json'].example);
}

/** A body just over the configured limit, so the server refuses it with 413 while it streams. */
const oversized = (limit) => 'x'.repeat(limit + 1024);

// ---------------------------------------------------------------------------------------------
// Plans: route → status → how to make the server answer it (and what to check after)
// ---------------------------------------------------------------------------------------------

/** Transactions skipped on purpose, with the reason (also listed in README.md). */
const SKIPPED = {};

const PLANS = {
  // The runner routes take JSON, urlencoded and multipart bodies alike (GitLab's documented
  // `curl --form` calls): Dredd makes one transaction per media type with the same name, and
  // setBody writes the fields in the transaction's media type. `example(t)` is the operation's
  // JSON example, which Dredd sends only for the JSON variant.
  'POST /ci/api/v1/builds/register': {
    // The queue runner gets the queue project's pending test builds, one per transaction.
    201: (t) => setBody(t, { ...example(t), token: seeded.queueRunner.token }),
    204: (t) => {
      setBody(t, { ...example(t), token: seeded.idleRunner.token });
      setHeader(t, 'User-Agent', RUNNER_USER_AGENT);
    },
    400: (t) => setBody(t, omit(example(t), 'token')),
    403: (t) => setBody(t, { ...example(t), token: WRONG_TOKEN }),
    // No build, and Dredd's own User-Agent is not a runner's.
    404: (t) => setBody(t, { ...example(t), token: seeded.idleRunner.token }),
    413: (t) => setBody(t, { ...example(t), token: seeded.idleRunner.token, padding: oversized(BODY_LIMIT_BYTES) }),
  },

  'PUT /ci/api/v1/builds/{id}': {
    // The example body finishes the build (`state: success`) with its trace: one running build
    // per route and media type, whose stored trace must then be the example's, byte for byte.
    200: (t, { variant, check }) => {
      const build = seeded.updateRspecs[variant];
      const fields = { ...example(t), token: seeded.shared.token };
      setPath(t, { id: build.id });
      setBody(t, fields);
      check(() => expectTrace(build, (trace) => trace.equals(Buffer.from(fields.trace)), `the PUT's trace ${JSON.stringify(fields.trace)}`));
    },
    400: (t) => {
      setPath(t, { id: seeded.first.rspec.id });
      setBody(t, omit(example(t), 'token'));
    },
    403: (t) => {
      setPath(t, { id: seeded.first.rspec.id });
      setBody(t, { ...example(t), token: WRONG_TOKEN });
    },
    // `PUT builds/-1` is how a runner checks its token: 404 means alive.
    404: (t, { json }) => {
      setPath(t, { id: json ? UNKNOWN_ID : -1 });
      setBody(t, { ...example(t), token: seeded.shared.token });
    },
    413: (t) => {
      setPath(t, { id: seeded.first.rspec.id });
      setBody(t, { ...example(t), token: seeded.shared.token, trace: oversized(BODY_LIMIT_BYTES) });
    },
  },

  // One transaction per request media type (text/plain, octet-stream, urlencoded): the body is
  // the chunk whatever its type, appended as it was sent (a form's `=`, `&`, `+` and `%41` too).
  'PATCH /ci/api/v1/builds/{id}/trace.txt': {
    202: async (t, { media, check }) => {
      const build = seeded.traceRspec;
      if (TRACE_CHUNKS[media] !== undefined) t.request.body = TRACE_CHUNKS[media];
      const chunk = Buffer.from(t.request.body);
      const start = await traceLength(seeded.main.id, build.id);
      const end = start + chunk.length;
      target(t, build.id, build.token);
      setHeader(t, 'Content-Range', `${start}-${end}`);
      t.expected.body = `0-${end}`;
      check(
        () =>
          expectHeader(t, 'range', `0-${end}`) ||
          expectHeader(t, 'build-status', 'running') ||
          expectTrace(build, (trace) => trace.subarray(start).equals(chunk), `its ${chunk.length} bytes ${JSON.stringify(chunk.toString())} at ${start}`),
      );
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
    416: async (t, { media, check }) => {
      const build = seeded.traceRspec;
      const length = await traceLength(seeded.main.id, build.id);
      if (TRACE_CHUNKS[media] !== undefined) t.request.body = TRACE_CHUNKS[media];
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
  // The token comes in the body (JSON, urlencoded or multipart) only.
  'DELETE /ci/api/v1/builds/{id}/artifacts': {
    200: (t, { check }) => {
      const build = seeded.artifactsRspec;
      targetWithBody(t, build.id, build.token);
      check(async () => {
        const reply = await send('GET', `/ci/api/v1/builds/${build.id}/artifacts`, { headers: { 'BUILD-TOKEN': build.token } });
        return reply.status === 404 ? undefined : `after deleting: GET the artifacts answered ${reply.status}, expected 404`;
      });
    },
    400: (t) => targetWithBody(t, 'abc', seeded.artifactsRspec.token),
    // The body's token wins over a valid BUILD-TOKEN.
    403: (t) => targetWithBody(t, seeded.artifactsRspec.id, WRONG_TOKEN, seeded.artifactsRspec.token),
    404: (t) => targetWithBody(t, UNKNOWN_ID, seeded.artifactsRspec.token),
  },

  'POST /ci/api/v1/runners/register': {
    // The multipart variant sends the tags as `tag_list[]` fields; the stored runner must have
    // the example's tags, run_untagged (from the text `true` in a form) and version (`info[version]`).
    201: (t, { media, check }) => {
      const fields = { ...example(t), token: REGISTRATION_TOKEN };
      if (media === 'multipart') fields.tag_list = fields.tag_list.split(',');
      setBody(t, fields);
      check(() => expectRegisteredRunner(t, { tag_list: ['docker', 'linux'], run_untagged: true, locked: false, version: fields.info.version }));
    },
    400: (t) => setBody(t, omit(example(t), 'token')),
    403: (t) => setBody(t, { ...example(t), token: WRONG_TOKEN }),
    // Neither a tag nor run_untagged (`false`, which a form sends as text): GitLab answered 404 to an invalid runner.
    404: (t) => {
      setBody(t, { ...omit(example(t), 'tag_list'), token: REGISTRATION_TOKEN, run_untagged: false });
    },
    413: (t) => setBody(t, { ...example(t), token: REGISTRATION_TOKEN, description: oversized(BODY_LIMIT_BYTES) }),
  },
  'DELETE /ci/api/v1/runners/delete': {
    200: (t, { variant }) => setBody(t, { token: seeded.doomedRunners[variant].token }),
    400: (t) => setBody(t, {}),
    403: (t) => setBody(t, { token: WRONG_TOKEN }),
    413: (t) => setBody(t, { token: WRONG_TOKEN, padding: oversized(BODY_LIMIT_BYTES) }),
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

  // ---- issue 3 ----------------------------------------------------------------------------
  // Dredd runs these in spec order: deleteProject comes right after getProject, so it deletes
  // a project of its own.
  'DELETE /api/v4/projects/{id}': {
    // The project is gone at once (its data goes in the background).
    202: (t, { check }) => {
      setPath(t, { id: seeded.doomedProject.id });
      check(async () => {
        const reply = await userApi('GET', `/api/v4/projects/${seeded.doomedProject.id}`);
        return reply.status === 404 ? undefined : `after deleting: GET the project answered ${reply.status}, expected 404`;
      });
    },
    400: (t) => setPath(t, { id: 'abc' }),
    401: (t) => {
      setPath(t, { id: seeded.main.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: UNKNOWN_ID }),
  },

  'GET /api/v4/projects/{id}/pipelines': {
    // The seeded pipelines of the main project are running; the filter must keep only those.
    200: (t, { check }) => {
      setPath(t, { id: seeded.main.id }, { status: 'running', ref: 'master', page: '1', per_page: '2' });
      check(() => expectEvery(t, (pipeline) => pipeline.status === 'running' && pipeline.ref === 'master', 'running on master') || expectFirstPage(t, 2));
    },
    400: (t) => setPath(t, { id: seeded.main.id }, { status: 'bogus' }),
    401: (t) => {
      setPath(t, { id: seeded.main.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: UNKNOWN_ID }),
  },
  // Canceling a pipeline with nothing left to cancel is not an error (GitLab's cancel_running
  // did nothing and answered the pipeline): its only 400 is a malformed id.
  'POST /api/v4/projects/{id}/pipelines/{pipeline_id}/cancel': {
    200: (t, { check }) => {
      setPath(t, { id: seeded.main.id, pipeline_id: seeded.pipelineToCancel.id });
      check(() => expectField(t, 'status', 'canceled'));
    },
    400: (t) => setPath(t, { id: seeded.main.id, pipeline_id: 'abc' }),
    401: (t) => {
      setPath(t, { id: seeded.main.id, pipeline_id: seeded.pipelineToCancel.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: seeded.main.id, pipeline_id: UNKNOWN_ID }),
  },
  'POST /api/v4/projects/{id}/pipelines/{pipeline_id}/retry': {
    // Its rspec failed: retrying makes a new pending rspec, so the pipeline (compile done) is running again.
    201: (t, { check }) => {
      setPath(t, { id: seeded.main.id, pipeline_id: seeded.pipelineToRetry.id });
      check(() => expectField(t, 'status', 'running'));
    },
    // Nothing failed or was canceled in it (compile done, rspec running).
    400: (t, { check }) => {
      setPath(t, { id: seeded.main.id, pipeline_id: seeded.actions.pipeline.id });
      check(() => expectMessageMentions(t, 'running'));
    },
    401: (t) => {
      setPath(t, { id: seeded.main.id, pipeline_id: seeded.pipelineToRetry.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: seeded.main.id, pipeline_id: UNKNOWN_ID }),
  },

  'GET /api/v4/projects/{id}/jobs': {
    // Every seeded compile succeeded; `scope[]` must keep only those.
    200: (t, { check }) => {
      setPath(t, { id: seeded.main.id }, { 'scope[]': 'success', page: '1', per_page: '3' });
      check(() => expectEvery(t, (job) => job.status === 'success', 'success') || expectFirstPage(t, 3));
    },
    400: (t) => setPath(t, { id: seeded.main.id }, { 'scope[]': 'bogus' }),
    401: (t) => {
      setPath(t, { id: seeded.main.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: UNKNOWN_ID }),
  },
  // The refusals name the job's status (400); the actions use their own seeded job.
  'POST /api/v4/projects/{id}/jobs/{job_id}/cancel': jobAction({
    target: () => seeded.jobToCancel,
    after: 'canceled',
    refused: () => seeded.actions.compile,
    refusedStatus: 'success',
  }),
  // The new job has the same definition; the failed one stays as it was.
  'POST /api/v4/projects/{id}/jobs/{job_id}/retry': jobAction({
    target: () => seeded.jobToRetry,
    after: 'pending',
    refused: () => seeded.actions.rspec,
    refusedStatus: 'running',
  }),
  'POST /api/v4/projects/{id}/jobs/{job_id}/play': {
    // compile is not a manual job.
    ...jobAction({ target: () => seeded.manualJob, refused: () => seeded.actions.compile }),
    200: (t, { check }) => {
      setPath(t, { id: seeded.manualProject.id, job_id: seeded.manualJob.id });
      check(() => expectField(t, 'status', 'pending'));
    },
    401: (t) => {
      setPath(t, { id: seeded.manualProject.id, job_id: seeded.manualJob.id });
      unauthorized(t);
    },
  },
  // A finished compile with a trace and an archive; rspec is still running.
  'POST /api/v4/projects/{id}/jobs/{job_id}/erase': {
    ...jobAction({ target: () => seeded.jobToErase, refused: () => seeded.actions.rspec, refusedStatus: 'running' }),
    201: (t, { check }) => {
      setPath(t, { id: seeded.main.id, job_id: seeded.jobToErase.id });
      check(() => expectField(t, 'artifacts_file', null));
    },
  },

  'GET /api/v4/runners/all': {
    200: (t, { check }) => {
      setPath(t, {}, { scope: 'active', tag_list: 'docker', page: '1', per_page: '20' });
      // The runners/register 201 transactions' runners have the example's docker tag too.
      check(() => expectEvery(t, (runner) => runner.active, 'active') || expectIncludes(t, { id: seeded.dockerRunner.id }));
    },
    400: (t) => setPath(t, {}, { scope: 'bogus' }),
    401: unauthorized,
  },
  'GET /api/v4/runners/{runner_id}': {
    // A specific runner that has asked for builds: contact time, version and project set.
    ...runnerRoute(() => seeded.queueRunner),
  },
  'PUT /api/v4/runners/{runner_id}': {
    ...runnerRoute(() => seeded.runnerToPause),
    // The example body pauses it and sets its tags.
    200: (t, { check }) => {
      setPath(t, { runner_id: seeded.runnerToPause.id });
      check(() => expectField(t, 'active', false) || expectField(t, 'status', 'paused'));
    },
    400: (t) => {
      setPath(t, { runner_id: seeded.runnerToPause.id });
      setJsonBody(t, { active: 'sometimes' });
    },
  },
  'DELETE /api/v4/runners/{runner_id}': runnerRoute(() => seeded.runnerToDelete),
  'POST /api/v4/projects/{id}/runners': {
    // A specific runner of the idle project joins the main project.
    201: (t) => {
      setPath(t, { id: seeded.main.id });
      setJsonBody(t, { runner_id: seeded.movableRunner.id });
    },
    // A locked runner stays with its projects.
    400: (t) => {
      setPath(t, { id: seeded.main.id });
      setJsonBody(t, { runner_id: seeded.lockedRunner.id });
    },
    401: (t) => {
      setPath(t, { id: seeded.main.id });
      setJsonBody(t, { runner_id: seeded.movableRunner.id });
      unauthorized(t);
    },
    404: (t) => {
      setPath(t, { id: seeded.main.id });
      setJsonBody(t, { runner_id: UNKNOWN_ID });
    },
  },
  'DELETE /api/v4/projects/{id}/runners/{runner_id}': {
    // Seeded on the idle and queue projects; leaves the queue project.
    204: (t) => {
      need('runnerAssignment');
      setPath(t, { id: seeded.queue.id, runner_id: seeded.twoProjectRunner.id });
    },
    // The idle runner's only project.
    400: (t) => setPath(t, { id: seeded.idleProject.id, runner_id: seeded.idleRunner.id }),
    401: (t) => {
      setPath(t, { id: seeded.idleProject.id, runner_id: seeded.idleRunner.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: seeded.idleProject.id, runner_id: UNKNOWN_ID }),
  },

  'GET /api/v4/projects/{id}/variables': {
    ...projectRoute(() => seeded.secretsProject),
    200: (t, { check }) => {
      need('variables');
      setPath(t, { id: seeded.secretsProject.id });
      check(() => expectIncludes(t, { key: seeded.variable.key, value: seeded.variable.value }));
    },
  },
  'POST /api/v4/projects/{id}/variables': {
    ...projectRoute(() => seeded.secretsProject),
    // The example body: DEPLOY_PASSWORD, new in this project.
    201: (t) => setPath(t, { id: seeded.secretsProject.id }),
    // A key the project has already.
    400: (t) => {
      need('variables');
      setPath(t, { id: seeded.secretsProject.id });
      setJsonBody(t, { key: seeded.variable.key, value: 'again' });
    },
  },
  'GET /api/v4/projects/{id}/variables/{key}': variableRoute(() => seeded.variable),
  'PUT /api/v4/projects/{id}/variables/{key}': {
    ...variableRoute(() => seeded.variable),
    200: (t, { check }) => {
      need('variables');
      setPath(t, { id: seeded.secretsProject.id, key: seeded.variable.key });
      check(() => expectField(t, 'value', jsonBody(t).value));
    },
    400: (t) => {
      need('variables');
      setPath(t, { id: seeded.secretsProject.id, key: seeded.variable.key });
      setJsonBody(t, {});
    },
  },
  'DELETE /api/v4/projects/{id}/variables/{key}': variableRoute(() => seeded.variableToDelete),

  'GET /api/v4/projects/{id}/triggers': {
    ...projectRoute(() => seeded.triggeredProject),
    200: (t, { check }) => {
      need('triggers');
      setPath(t, { id: seeded.triggeredProject.id });
      // Listings show only the first 4 characters: the token is kept as a digest (issue 9).
      check(() => expectIncludes(t, { id: seeded.trigger.id, token: seeded.trigger.token.slice(0, 4) }));
    },
  },
  'POST /api/v4/projects/{id}/triggers': {
    ...projectRoute(() => seeded.triggeredProject),
    201: (t) => setPath(t, { id: seeded.triggeredProject.id }),
    400: (t) => {
      setPath(t, { id: seeded.triggeredProject.id });
      setJsonBody(t, { description: 5 });
    },
  },
  'DELETE /api/v4/projects/{id}/triggers/{trigger_id}': {
    204: (t) => {
      need('triggers');
      setPath(t, { id: seeded.triggeredProject.id, trigger_id: seeded.triggerToDelete.id });
    },
    400: (t) => setPath(t, { id: seeded.triggeredProject.id, trigger_id: 'abc' }),
    401: (t) => {
      need('triggers');
      setPath(t, { id: seeded.triggeredProject.id, trigger_id: seeded.trigger.id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: seeded.triggeredProject.id, trigger_id: UNKNOWN_ID }),
  },
  // Authenticated by the trigger token alone; JSON, urlencoded and multipart bodies (same
  // transaction names: setBody writes the one of the transaction's media type).
  'POST /api/v4/projects/{id}/trigger/pipeline': {
    201: (t, { check }) => {
      need('triggers');
      setTriggerBody(t, { token: seeded.trigger.token, ref: 'master', variables: { DEPLOY_TARGET: 'staging' } });
      check(() => expectField(t, 'ref', 'master'));
    },
    400: (t) => {
      need('triggers');
      setTriggerBody(t, { token: seeded.trigger.token });
    },
    // A token of another project.
    401: (t) => {
      need('triggers');
      setTriggerBody(t, { token: seeded.foreignTrigger.token, ref: 'master' });
    },
    404: (t) => setTriggerBody(t, { token: WRONG_TOKEN, ref: 'master' }),
  },
  'POST /ci/api/v1/projects/{id}/refs/{ref}/trigger': {
    201: (t, { check }) => {
      need('triggers');
      setLegacyTrigger(t, 'master', { token: seeded.trigger.token, variables: { DEPLOY_TARGET: 'staging' } });
      check(() => expectField(t, 'variables', { DEPLOY_TARGET: 'staging' }));
    },
    // JSON: a variable that is not a string; urlencoded: a ref no job runs on ("No builds
    // created"); multipart: a file part, which only text forms may not have.
    400: (t, { form, multipart, check }) => {
      need('triggers');
      if (multipart) {
        setLegacyTriggerWithFile(t);
        check(() => expectField(t, 'message', '400 Bad request - variables is a file: only text fields are accepted'));
      } else if (form) setLegacyTrigger(t, 'release', { token: seeded.trigger.token });
      else setLegacyTrigger(t, 'master', { token: seeded.trigger.token, variables: { DEPLOY_TARGET: 5 } });
    },
    401: (t) => {
      need('triggers');
      setLegacyTrigger(t, 'master', { token: seeded.foreignTrigger.token });
    },
    404: (t) => setLegacyTrigger(t, 'master', { token: WRONG_TOKEN }),
  },

  'POST /api/v4/ci/lint': {
    // The example content is valid.
    200: (t, { check }) => check(() => expectField(t, 'valid', true)),
    400: (t) => setJsonBody(t, {}),
    401: unauthorized,
  },
};

// ---- issue 8: runner API v4, runners ------------------------------------------------------------

/** What gitlab-runner 17.11 sends. */
const RUNNER_V4_USER_AGENT = 'gitlab-runner 17.11.0 (17-11-stable; go1.23.6; linux/amd64)';
/** The host whose runner manager the managers DELETE 204 removes (seeded by a verify). */
const CONTRACT_SYSTEM_ID = 's_contract0001';

function registerRunnerV4(token, description, settings = {}) {
  return expectJson(
    `register v4 runner ${description}`,
    201,
    sendJson('POST', '/api/v4/runners', { token, description, run_untagged: true, locked: false, paused: false, ...settings }, { 'User-Agent': RUNNER_V4_USER_AGENT }),
  );
}

SEEDING_GROUPS.runnersV4 = async () => {
  seeded.v4RunnerToDelete = await registerRunnerV4(REGISTRATION_TOKEN, 'contract-v4-doomed');
  // An authentication-token runner, as an administrator makes it; a verify records its manager.
  seeded.glrtRunner = await expectJson('create glrt runner', 201, userApi('POST', '/api/v4/user/runners', { runner_type: 'instance_type', description: 'contract-glrt' }));
  await expectJson(
    'verify the glrt runner',
    200,
    sendJson('POST', '/api/v4/runners/verify', { token: seeded.glrtRunner.token, system_id: CONTRACT_SYSTEM_ID }, { 'User-Agent': RUNNER_V4_USER_AGENT }),
  );
};

/** The runner API v4 takes JSON: the v4 plans send the example with these changes, as gitlab-runner does. */
function setV4Body(t, fields) {
  setHeader(t, 'User-Agent', RUNNER_V4_USER_AGENT);
  setJsonBody(t, fields);
}

Object.assign(PLANS, {
  'POST /api/v4/runners': {
    // The example registers a shared runner with the comma-separated tags gitlab-runner sends.
    201: (t, { check }) => {
      need('runnersV4');
      setV4Body(t, { ...example(t), token: REGISTRATION_TOKEN });
      check(() =>
        expectField(t, 'token_expires_at', null) ||
        expectRegisteredRunner(t, { api_version: 'v4', tag_list: ['docker', 'linux'], paused: false, is_shared: true, access_level: 'not_protected', maximum_timeout: 3600, version: '17.11.0' }),
      );
    },
    400: (t) => setV4Body(t, omit(example(t), 'token')),
    403: (t) => setV4Body(t, { ...example(t), token: WRONG_TOKEN }),
  },
  'DELETE /api/v4/runners': {
    204: (t, { check }) => {
      need('runnersV4');
      setV4Body(t, { token: seeded.v4RunnerToDelete.token });
      check(async () => {
        const reply = await sendJson('POST', '/api/v4/runners/verify', { token: seeded.v4RunnerToDelete.token });
        return reply.status === 403 ? undefined : `after unregistering: verify answered ${reply.status}, expected 403`;
      });
    },
    400: (t) => setV4Body(t, {}),
    // A v1 runner's token opens nothing under /api/v4.
    403: (t) => setV4Body(t, { token: seeded.shared.token }),
  },
  'GET /api/v4/runners': {
    200: (t, { check }) => {
      setPath(t, {}, { type: 'project_type', paused: 'false', status: undefined });
      check(() => expectEvery(t, (runner) => runner.runner_type === 'project_type' && !runner.is_shared && !runner.paused, 'active project runners'));
    },
    400: (t) => setPath(t, {}, { type: 'bogus' }),
    401: (t) => unauthorized(t),
  },
  'POST /api/v4/runners/verify': {
    200: (t, { check }) => {
      need('runnersV4');
      setV4Body(t, { ...example(t), token: seeded.glrtRunner.token });
      check(() => expectField(t, 'id', seeded.glrtRunner.id));
    },
    400: (t) => setV4Body(t, omit(example(t), 'token')),
    // A v1 runner's token opens nothing under /api/v4.
    403: (t) => setV4Body(t, { ...example(t), token: seeded.shared.token }),
  },
  'DELETE /api/v4/runners/managers': {
    204: (t) => {
      need('runnersV4');
      setV4Body(t, { token: seeded.glrtRunner.token, system_id: CONTRACT_SYSTEM_ID });
    },
    400: (t) => {
      need('runnersV4');
      setV4Body(t, { token: seeded.glrtRunner.token });
    },
    403: (t) => setV4Body(t, { ...example(t), token: WRONG_TOKEN }),
    404: (t) => {
      need('runnersV4');
      setV4Body(t, { token: seeded.glrtRunner.token, system_id: 's_nobody' });
    },
  },
  'POST /api/v4/user/runners': {
    201: (t, { check }) => check(() => (/^glrt-/.test((realJson(t) || {}).token) ? undefined : `token: expected a glrt- token, got ${t.real.body}`)),
    400: (t) => setJsonBody(t, { runner_type: 'group_type', group_id: 1 }),
    401: unauthorized,
    403: (t, { check }) => {
      asViewer(t);
      check(() => expectField(t, 'message', READ_ONLY));
    },
    404: (t) => setJsonBody(t, { runner_type: 'project_type', project_id: UNKNOWN_ID }),
  },
});

// ---- issue 8: runner API v4, artifacts ----------------------------------------------------------

/** One job waiting for a v4 runner: a project of its own, so no other runner takes it. */
const V4_ARTIFACTS_CI = ['package:', '  script: make package', ''].join('\n');
/**
 * A job running on a v4 runner needs POST /api/v4/jobs/request (the v4 jobs work stream): until
 * openapi.yaml has it, the two upload transactions that need one are skipped, with this reason.
 */
const HAS_V4_JOB_REQUEST = Boolean(SPEC.paths['/api/v4/jobs/request']);
const NO_V4_JOB_REQUEST = 'needs a job running on a v4 runner, i.e. POST /api/v4/jobs/request, which is not in openapi.yaml yet; test/artifactsV4.test.ts covers it';

SEEDING_GROUPS.artifactsV4 = async () => {
  if (!HAS_V4_JOB_REQUEST) return;
  const project = await createProject({ name: 'v4-artifacts', repo_url: 'https://git.example.com/v4-artifacts.git', ci_config: V4_ARTIFACTS_CI, shared_runners_enabled: false });
  const runner = await registerRunnerV4(project.runners_token, 'contract-v4-artifacts');
  await createPipeline(project.id);
  seeded.v4Job = await expectJson(
    'v4 runner takes package',
    201,
    sendJson('POST', '/api/v4/jobs/request', { token: runner.token, info: { name: 'gitlab-runner', version: '17.11.0' } }, { 'User-Agent': RUNNER_V4_USER_AGENT }),
  );
};

/** Points a v4 artifacts route at job `id` with `token` as JOB-TOKEN (what the runner sends) and no `token` parameter. */
function targetV4(t, id, token, query = {}) {
  setHeader(t, 'JOB-TOKEN', token);
  setHeader(t, 'User-Agent', RUNNER_V4_USER_AGENT);
  setPath(t, { id }, { token: undefined, ...query });
}

Object.assign(PLANS, {
  'POST /api/v4/jobs/{id}/artifacts': {
    201: (t, { check }) => {
      need('artifactsV4');
      targetV4(t, seeded.v4Job.id, seeded.v4Job.token, { artifact_type: 'archive', artifact_format: 'zip', expire_in: '7d' });
      setMultipartBody(t, [ARCHIVE_PART]);
      check(async () => {
        const reply = await send('GET', `/api/v4/jobs/${seeded.v4Job.id}/artifacts`, { headers: { 'JOB-TOKEN': seeded.v4Job.token } });
        return reply.status === 200 && reply.body.equals(EMPTY_ZIP) ? undefined : `after uploading: GET answered ${reply.status} with ${reply.body.length} bytes`;
      });
    },
    // The format does not fit the type: refused before the body is read.
    400: (t) => {
      targetV4(t, seeded.artifactsRspec.id, seeded.artifactsRspec.token, { artifact_type: 'metadata', artifact_format: 'zip' });
      setMultipartBody(t, [ARCHIVE_PART]);
    },
    // A finished job, with its own token: 403 with its status, so that the runner stops.
    403: (t, { check }) => {
      targetV4(t, seeded.first.compile.id, seeded.first.compile.token, { artifact_type: 'archive', artifact_format: 'zip' });
      setMultipartBody(t, [ARCHIVE_PART]);
      check(() => expectHeader(t, 'job-status', 'success'));
    },
    413: (t) => {
      need('artifactsV4');
      targetV4(t, seeded.v4Job.id, seeded.v4Job.token, { artifact_type: 'junit', artifact_format: 'gzip' });
      setMultipartBody(t, [{ ...ARCHIVE_PART, data: oversized(ARTIFACTS_LIMIT_BYTES) }]);
    },
  },
  'GET /api/v4/jobs/{id}/artifacts': {
    // A dependency that ran on a v1 runner, with its own token (a mixed fleet).
    200: (t, { check }) => {
      targetV4(t, seeded.first.compile.id, seeded.first.compile.token, { direct_download: 'true' });
      check(() => expectArchive(t));
    },
    400: (t) => targetV4(t, 'abc', seeded.first.compile.token),
    401: (t) => targetV4(t, seeded.first.compile.id, WRONG_TOKEN),
    403: (t) => targetV4(t, UNKNOWN_ID, seeded.first.compile.token),
    // Its own token, but it never uploaded anything.
    404: (t) => targetV4(t, seeded.first.rspec.id, seeded.first.rspec.token),
  },
});
if (!HAS_V4_JOB_REQUEST) {
  for (const status of [201, 413]) SKIPPED[`/api/v4/jobs/{id}/artifacts > Upload an artifact of a job (API v4) > ${status} > application/json`] = NO_V4_JOB_REQUEST;
}

// ---- issue 10: the viewer token, the web session, the live trace, badges, health, metrics ----

/** The read-only viewer token (CI_VIEWER_TOKEN) in place of the admin token. */
function asViewer(t) {
  setHeader(t, 'PRIVATE-TOKEN', VIEWER_TOKEN);
}

const READ_ONLY = '403 Forbidden - the viewer token is read-only';
const ADMIN_ONLY = '403 Forbidden - the viewer token may not see secrets';

/**
 * Every operation that changes something (and the reads of secrets) answers 403 to the viewer
 * token: `where` points the otherwise valid request at a real object, so only the token is wrong.
 */
const VIEWER_REFUSALS = {
  'POST /api/v4/projects': [() => {}],
  'DELETE /api/v4/projects/{id}': [(t) => setPath(t, { id: seeded.main.id })],
  'POST /api/v4/projects/{id}/pipeline': [(t) => setPath(t, { id: seeded.main.id })],
  'POST /api/v4/projects/{id}/pipelines/{pipeline_id}/cancel': [(t) => setPath(t, { id: seeded.main.id, pipeline_id: seeded.actions.pipeline.id })],
  'POST /api/v4/projects/{id}/pipelines/{pipeline_id}/retry': [(t) => setPath(t, { id: seeded.main.id, pipeline_id: seeded.actions.pipeline.id })],
  'POST /api/v4/projects/{id}/jobs/{job_id}/cancel': [(t) => setPath(t, { id: seeded.main.id, job_id: seeded.actions.rspec.id })],
  'POST /api/v4/projects/{id}/jobs/{job_id}/retry': [(t) => setPath(t, { id: seeded.main.id, job_id: seeded.actions.compile.id })],
  'POST /api/v4/projects/{id}/jobs/{job_id}/play': [(t) => setPath(t, { id: seeded.manualProject.id, job_id: seeded.manualJob.id })],
  'POST /api/v4/projects/{id}/jobs/{job_id}/erase': [(t) => setPath(t, { id: seeded.main.id, job_id: seeded.actions.compile.id })],
  'PUT /api/v4/runners/{runner_id}': [(t) => setPath(t, { runner_id: seeded.dockerRunner.id })],
  'DELETE /api/v4/runners/{runner_id}': [(t) => setPath(t, { runner_id: seeded.dockerRunner.id })],
  'POST /api/v4/projects/{id}/runners': [
    (t) => {
      setPath(t, { id: seeded.main.id });
      setJsonBody(t, { runner_id: seeded.dockerRunner.id });
    },
  ],
  'DELETE /api/v4/projects/{id}/runners/{runner_id}': [(t) => setPath(t, { id: seeded.idleProject.id, runner_id: seeded.idleRunner.id })],
  'GET /api/v4/projects/{id}/variables': [(t) => setPath(t, { id: seeded.secretsProject.id }), ADMIN_ONLY],
  'POST /api/v4/projects/{id}/variables': [(t) => setPath(t, { id: seeded.secretsProject.id })],
  'GET /api/v4/projects/{id}/variables/{key}': [(t) => setPath(t, { id: seeded.secretsProject.id, key: 'REGISTRY_PASSWORD' }), ADMIN_ONLY],
  'PUT /api/v4/projects/{id}/variables/{key}': [(t) => setPath(t, { id: seeded.secretsProject.id, key: 'REGISTRY_PASSWORD' })],
  'DELETE /api/v4/projects/{id}/variables/{key}': [(t) => setPath(t, { id: seeded.secretsProject.id, key: 'REGISTRY_PASSWORD' })],
  'GET /api/v4/projects/{id}/triggers': [(t) => setPath(t, { id: seeded.triggeredProject.id }), ADMIN_ONLY],
  'POST /api/v4/projects/{id}/triggers': [(t) => setPath(t, { id: seeded.triggeredProject.id })],
  'DELETE /api/v4/projects/{id}/triggers/{trigger_id}': [
    (t) => {
      need('triggers');
      setPath(t, { id: seeded.triggeredProject.id, trigger_id: seeded.trigger.id });
    },
  ],
};
for (const [route, [where, message = READ_ONLY]] of Object.entries(VIEWER_REFUSALS)) {
  if (!PLANS[route]) throw new Error(`VIEWER_REFUSALS names ${route}, which has no plans`);
  PLANS[route][403] = (t, { check }) => {
    where(t);
    asViewer(t);
    check(() => expectField(t, 'message', message));
  };
}

/** The session cookie as a browser sends it back. */
function withSessionCookie(t, token) {
  setHeader(t, 'Cookie', `ci_session=${token}`);
  setHeader(t, 'PRIVATE-TOKEN', undefined);
}

/** A reply whose body Dredd would compare with an example it cannot know (a page, a bundle, live figures). */
function bodyCheckedByUs(t) {
  delete t.expected.body;
}

/** The real reply's body as text (Dredd hands over a body that is not valid UTF-8 base64-encoded). */
function realText(t) {
  return Buffer.from(t.real.body || '', t.real.bodyEncoding === 'base64' ? 'base64' : 'utf8').toString('utf8');
}

function expectBodyStartsWith(t, prefix) {
  const body = realText(t);
  return body.startsWith(prefix) ? undefined : `body: expected it to start with ${JSON.stringify(prefix)}, got ${JSON.stringify(body.slice(0, 80))}`;
}

function expectBodyIncludes(t, part) {
  return realText(t).includes(part) ? undefined : `body: expected it to include ${JSON.stringify(part)}`;
}

Object.assign(PLANS, {
  'GET /api/v4/projects': {
    200: (t, { check }) => {
      setPath(t, {}, { page: '1', per_page: '2' });
      check(() => expectFirstPage(t, 2) || expectEvery(t, (project) => project.runners_token !== '', 'shown with their runners token to the admin'));
    },
    400: (t) => setPath(t, {}, { per_page: '0' }),
    401: unauthorized,
  },

  // Pipeline 1's compile: finished, so the stream sends its whole trace (the spec's example,
  // byte for byte, which Dredd compares) and ends. Dredd sends the example's Last-Event-ID: 0.
  'GET /api/v4/projects/{id}/jobs/{job_id}/trace/stream': {
    ...userApiReads(() => ({ id: seeded.main.id, job_id: seeded.first.compile.id }), 'job_id'),
    200: (t) => setPath(t, { id: seeded.main.id, job_id: seeded.first.compile.id }),
  },

  // Public: a README embeds it. The idle project has no pipeline: the example's `unknown` badge.
  'GET /api/v4/projects/{id}/pipelines/badge.svg': {
    200: (t) => setPath(t, { id: seeded.idleProject.id }, { ref: 'master' }),
    400: (t) => setPath(t, { id: seeded.idleProject.id }, { ref: '' }),
    404: (t) => setPath(t, { id: UNKNOWN_ID }, { ref: 'master' }),
  },

  'GET /-/health': { 200: () => {} },
  'GET /-/liveness': { 200: () => {} },
  'GET /-/readiness': {
    200: () => {},
    // DATA_DIR moved away for this one request: the writability check fails for real (the
    // database file stays open, so the database checks still pass), then it is put back.
    503: (t, { check, undo }) => {
      const away = `${DATA_DIR}.away`;
      fs.renameSync(DATA_DIR, away);
      undo(() => fs.renameSync(away, DATA_DIR));
      bodyCheckedByUs(t);
      check(() => {
        const body = realJson(t);
        return expectField(t, 'status', 'failed') || (body && body.data_dir_check[0].status === 'failed' && body.db_check[0].status === 'ok' ? undefined : `body: expected only the data_dir check to fail, got ${t.real.body}`);
      });
    },
  },
  'GET /metrics': {
    200: (t, { check }) => {
      bodyCheckedByUs(t);
      // Every transaction so far went through the server: the request counter has them.
      check(() => expectBodyIncludes(t, 'coordinator_http_requests_total{operation="registerBuild",status="201"}') || expectBodyIncludes(t, 'coordinator_queue_depth '));
    },
  },

  'GET /-/session': {
    200: (t, { check }) => {
      withSessionCookie(t, ADMIN_TOKEN);
      check(() => expectField(t, 'role', 'admin'));
    },
    401: (t) => withSessionCookie(t, WRONG_TOKEN),
  },
  'POST /-/session': {
    // The example body is the contract run's admin token.
    201: (t, { check }) => {
      setJsonBody(t, { token: ADMIN_TOKEN });
      check(() => {
        const cookie = String(t.real.headers['set-cookie'] || '');
        return /^ci_session=[^;]+;.*httponly/i.test(cookie) && /samesite=strict/i.test(cookie) ? undefined : `set-cookie: expected an HttpOnly, SameSite=Strict ci_session cookie, got ${JSON.stringify(cookie)}`;
      });
    },
    400: (t) => setJsonBody(t, {}),
    401: (t) => setJsonBody(t, { token: WRONG_TOKEN }),
  },
  'DELETE /-/session': {
    204: (t, { check }) => check(() => (/^ci_session=;/.test(String(t.real.headers['set-cookie'] || '')) ? undefined : `set-cookie: expected the session cookie cleared, got ${t.real.headers['set-cookie']}`)),
  },

  'GET /': webAsset('<!doctype html>'),
  'GET /assets/app.js': webAsset('"use strict";'),
  'GET /assets/app.css': webAsset(':root'),
  'GET /docs': webAsset('<!doctype html>', '<redoc spec-url="/openapi.yaml"'),
  'GET /docs/redoc.standalone.js': webAsset('/*! For license information please see redoc.standalone.js.LICENSE.txt */'),
  'GET /openapi.yaml': webAsset('openapi: 3.0.3'),
});

/** A page or file of the web view: 200, and its body begins as it should (and has `part`). */
function webAsset(prefix, part = '') {
  return {
    200: (t, { check }) => {
      bodyCheckedByUs(t);
      check(() => expectBodyStartsWith(t, prefix) || expectBodyIncludes(t, part));
    },
  };
}

SKIPPED['/metrics > Prometheus metrics of this process > 404 > application/json'] =
  'only with METRICS_PORT set, which moves /metrics to a port of its own (test/metrics.test.ts covers it); the contract run serves it here';

/** The runner API v4 (/api/v4/runners, /api/v4/jobs/...) is under /api/v4 too, but its operations have no PRIVATE-TOKEN security. */
function hasUserSecurity(t) {
  const { pathTemplate } = describe(t);
  const operation = SPEC.paths[pathTemplate] && SPEC.paths[pathTemplate][t.request.method.toLowerCase()];
  return Boolean(operation && operation.security && operation.security.length > 0);
}

/** Routes of the user API that send no PRIVATE-TOKEN (the trigger token authenticates). */
const UNAUTHENTICATED_ROUTES = new Set(['POST /api/v4/projects/{id}/trigger/pipeline', 'GET /api/v4/projects/{id}/pipelines/badge.svg']);

/** Points the transaction at the triggered project with `fields` as its JSON or form body. */
function setTriggerBody(t, fields) {
  setPath(t, { id: seeded.triggeredProject.id });
  setBody(t, fields);
}

function setLegacyTrigger(t, ref, fields) {
  setPath(t, { id: seeded.triggeredProject.id, ref });
  setBody(t, fields);
}

/** A multipart legacy trigger whose variables come as a file (`curl -F variables=@vars.env`): 400. */
function setLegacyTriggerWithFile(t) {
  setPath(t, { id: seeded.triggeredProject.id, ref: 'master' });
  setMultipartBody(t, [
    { name: 'token', data: seeded.trigger.token },
    { name: 'variables', filename: 'vars.env', data: 'DEPLOY_TARGET=staging\n' },
  ]);
}

/**
 * The body of the transaction's media type: JSON; urlencoded or multipart text fields
 * (`variables[KEY]=value`, `info[name]=...`, `tag_list[]=...`, as `curl -F` sends them) for the
 * form variants.
 */
function setBody(t, fields) {
  if (!isForm(t) && !isMultipart(t)) {
    setJsonBody(t, fields);
    return;
  }
  const form = formFields(fields);
  if (isMultipart(t)) {
    setMultipartBody(t, form.map(([name, data]) => ({ name, data })));
    return;
  }
  setHeader(t, 'Content-Type', 'application/x-www-form-urlencoded');
  t.request.body = new URLSearchParams(form).toString();
}

/** Nested values as Rack nests form fields: objects as `name[key]`, arrays as repeated `name[]`. */
function formFields(fields, prefix) {
  const form = [];
  for (const [key, value] of Object.entries(fields)) {
    const name = prefix ? `${prefix}[${key}]` : key;
    if (Array.isArray(value)) for (const item of value) form.push([`${name}[]`, String(item)]);
    else if (value !== null && typeof value === 'object') form.push(...formFields(value, name));
    else form.push([name, String(value)]);
  }
  return form;
}

/** The request's Content-Type as Dredd made it from the media type (before any plan rewrote it). */
function requestContentType(t) {
  const contentType = Object.entries(t.request.headers).find(([name]) => name.toLowerCase() === 'content-type');
  return contentType ? contentType[1] : '';
}

function isForm(t) {
  return requestContentType(t).startsWith('application/x-www-form-urlencoded');
}

function isMultipart(t) {
  return requestContentType(t).startsWith('multipart/form-data');
}

/** The transaction's request media type: `json` (also for none), `form`, `multipart`, or the type itself. */
function mediaOf(t) {
  if (isForm(t)) return 'form';
  if (isMultipart(t)) return 'multipart';
  const type = requestContentType(t).split(';')[0].trim();
  return type === '' || type === 'application/json' ? 'json' : type;
}

/**
 * A job action on the main project: `target()` is the job it applies to (its reply's status must
 * become `after`, when given); `refused()` is a job in `refusedStatus`, which the action does not
 * apply to: 400 with a message that names that status.
 */
function jobAction({ target, after, refused, refusedStatus }) {
  const at = (job) => ({ id: seeded.main.id, job_id: job.id });
  return {
    // cancel, retry and erase answer 201 (play's 200 is its own).
    201: (t, { check }) => {
      const job = target();
      setPath(t, at(job));
      if (after) check(() => expectField(t, 'status', after) || (after === 'pending' ? expectNewJob(t, job) : undefined));
    },
    400: (t, { check }) => {
      setPath(t, at(refused()));
      if (refusedStatus) check(() => expectMessageMentions(t, refusedStatus));
    },
    401: (t) => {
      setPath(t, at(target()));
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: seeded.main.id, job_id: UNKNOWN_ID }),
  };
}

/** 2xx (the runner) / 400 (non-numeric id) / 401 / 404 (unknown id) for `/runners/{runner_id}`. */
function runnerRoute(runner) {
  const success = (t) => setPath(t, { runner_id: runner().id });
  return {
    200: success,
    204: success,
    400: (t) => setPath(t, { runner_id: 'abc' }),
    401: (t) => {
      success(t);
      unauthorized(t);
    },
    404: (t) => setPath(t, { runner_id: UNKNOWN_ID }),
  };
}

/** 400 (non-numeric id) / 401 / 404 (unknown id) for a project's collection route. */
function projectRoute(project) {
  return {
    400: (t) => setPath(t, { id: 'abc' }),
    401: (t) => {
      setPath(t, { id: project().id });
      unauthorized(t);
    },
    404: (t) => setPath(t, { id: UNKNOWN_ID }),
  };
}

/** 200 / 204 (the variable) / 400 (a key that can't be one) / 401 / 404 (unknown key) for `/variables/{key}`. */
function variableRoute(variable) {
  const at = (key) => ({ id: seeded.secretsProject.id, key });
  const success = (t) => {
    need('variables');
    setPath(t, at(variable().key));
  };
  return {
    200: success,
    204: success,
    400: (t) => setPath(t, at('not-a-key!')),
    401: (t) => {
      success(t);
      unauthorized(t);
    },
    404: (t) => setPath(t, at('NO_SUCH_KEY')),
  };
}

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

/** The build's stored trace (read through the user API) must pass `test`. */
async function expectTrace(build, test, what) {
  const reply = await send('GET', `/api/v4/projects/${build.project_id}/jobs/${build.id}/trace`, { headers: { 'PRIVATE-TOKEN': ADMIN_TOKEN } });
  if (reply.status !== 200) return `trace of build ${build.id}: ${reply.status}`;
  return test(reply.body) ? undefined : `trace of build ${build.id}: expected ${what}, got ${JSON.stringify(reply.body.toString())}`;
}

/** The runner a runners/register transaction created, read through the admin API, has these settings. */
async function expectRegisteredRunner(t, expected) {
  const registered = realJson(t);
  const reply = await userApi('GET', `/api/v4/runners/${registered && registered.id}`);
  if (reply.status !== 200) return `runner ${registered && registered.id}: ${reply.status} ${reply.text}`;
  const wrong = Object.entries(expected).find(([key, value]) => !same(reply.json[key], value));
  return wrong ? `runner ${reply.json.id}: expected ${wrong[0]} ${JSON.stringify(wrong[1])}, got ${JSON.stringify(reply.json[wrong[0]])}` : undefined;
}

function expectHeader(t, name, expected) {
  const actual = t.real.headers[name];
  return actual === expected ? undefined : `${name}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/** The real reply's JSON body (undefined when it is not JSON). */
function realJson(t) {
  try {
    return JSON.parse(t.real.body);
  } catch {
    return undefined;
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function expectField(t, name, expected) {
  const body = realJson(t);
  const actual = body ? body[name] : undefined;
  return same(actual, expected) ? undefined : `body.${name}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/** A retry answers a new job, not the one retried. */
function expectNewJob(t, retried) {
  const body = realJson(t);
  return body && body.id !== retried.id ? undefined : `body.id: expected a new job, got the retried job ${retried.id}`;
}

function expectMessageMentions(t, word) {
  const body = realJson(t);
  return body && typeof body.message === 'string' && body.message.includes(word)
    ? undefined
    : `message: expected it to name the status "${word}", got ${JSON.stringify(body && body.message)}`;
}

/** A list reply where every item passes `test` (and there is at least one). */
function expectEvery(t, test, what) {
  const items = realJson(t);
  if (!Array.isArray(items) || items.length === 0) return `body: expected a non-empty list, got ${t.real.body}`;
  const wrong = items.find((item) => !test(item));
  return wrong ? `body: expected only items that are ${what}, got ${JSON.stringify(wrong)}` : undefined;
}

/** A list reply with an item that has every field of `subset`. */
function expectIncludes(t, subset) {
  const items = realJson(t);
  const found = Array.isArray(items) && items.some((item) => Object.entries(subset).every(([key, value]) => same(item[key], value)));
  return found ? undefined : `body: expected an item with ${JSON.stringify(subset)}, got ${t.real.body}`;
}

/** Page 1 of several, `perPage` items long: the pagination headers say so. */
function expectFirstPage(t, perPage) {
  const items = realJson(t);
  if (!Array.isArray(items) || items.length !== perPage) return `body: expected ${perPage} items (a full first page), got ${t.real.body}`;
  const link = t.real.headers.link || '';
  return (
    expectHeader(t, 'x-page', '1') ||
    expectHeader(t, 'x-per-page', String(perPage)) ||
    expectHeader(t, 'x-next-page', '2') ||
    expectHeader(t, 'x-prev-page', '') ||
    (link.includes('rel="next"') ? undefined : `link: expected a rel="next" link, got ${JSON.stringify(link)}`)
  );
}

// ---- issue 8: runner API v4, jobs (/api/v4/jobs/...) ----
// Two projects of their own (shared runners off), each with a specific runner: `v4Main`, whose
// compile ran on runner A through v4 (archive uploaded, finished), leaving rspec pending for the
// request 201 (every key of openapi.yaml's job example: image, services, after_script, artifacts,
// cache, a dependency with its archive); and `v4Work`, whose three jobs runner B holds running
// for the PUT and PATCH transactions. The runners register through POST /api/v4/runners.
const V4_RUNNER_UA = 'gitlab-runner 17.11.0 (17-11-stable; go1.23.6; linux/amd64)';
const V4_INFO = { name: 'gitlab-runner', version: '17.11.0', revision: '0f67ff19', platform: 'linux', architecture: 'amd64', executor: 'docker', shell: 'bash', features: { cancel_gracefully: true, trace_checksum: true } };
const V4_MAIN_CI = [
  'stages: [build, test]',
  ...COMPILE_AND_RSPEC.slice(0, 5), // compile, with its artifacts
  'rspec:',
  '  stage: test',
  '  image: ruby:3.3',
  '  services: [postgres:16]',
  '  script: [bundle install --jobs 4, bundle exec rspec]',
  '  after_script: [rm -rf tmp/cache]',
  '  dependencies: [compile]',
  '  cache: { key: gems, paths: [vendor/bundle] }',
  ARTIFACTS_YAML('rspec-results'),
  '',
].join('\n');
const V4_WORK_JOBS = ['finish', 'wait', 'trace'];
const V4_WORK_CI = V4_WORK_JOBS.map((name) => `${name}:\n  script: make ${name}\n`).join('');

const v4Json = (method, path, value, headers = {}) => sendJson(method, path, value, { 'User-Agent': V4_RUNNER_UA, ...headers });

async function takeV4Job(runner, expectedName) {
  const job = await expectJson(`v4 runner ${runner.id} takes ${expectedName}`, 201, v4Json('POST', '/api/v4/jobs/request', { token: runner.token, info: V4_INFO }));
  if (job.job_info.name !== expectedName) throw new Error(`seeding: v4 runner ${runner.id} got ${job.job_info.name} (#${job.id}), expected ${expectedName}`);
  return job;
}

/** What the runner's artifacts-uploader sends for a job's archive. */
async function uploadV4Archive(job) {
  const form = multipart([{ name: 'file', filename: 'artifacts.zip', data: EMPTY_ZIP }]);
  const reply = await send('POST', `/api/v4/jobs/${job.id}/artifacts?artifact_type=archive&artifact_format=zip&expire_in=7d`, {
    headers: { 'Content-Type': form.contentType, 'JOB-TOKEN': job.token, 'User-Agent': V4_RUNNER_UA },
    body: form.body,
  });
  if (reply.status !== 201) throw new Error(`seeding: artifacts of v4 job ${job.id}: ${reply.status} ${reply.body}`);
}

SEEDING_GROUPS.v4Jobs = async () => {
  const quiet = { shared_runners_enabled: false };
  seeded.v4Main = await createProject({ name: 'v4-main', repo_url: 'https://git.example.com/diaspora/diaspora.git', ci_config: V4_MAIN_CI, ...quiet });
  seeded.v4RunnerA = await registerRunnerV4(seeded.v4Main.runners_token, 'contract-v4-a');
  await createPipeline(seeded.v4Main.id);
  const compile = await takeV4Job(seeded.v4RunnerA, 'compile');
  await uploadV4Archive(compile);
  await expectJson('v4 compile succeeds', 200, v4Json('PUT', `/api/v4/jobs/${compile.id}`, { token: compile.token, state: 'success', info: V4_INFO }));
  seeded.v4Finished = compile;

  seeded.v4Work = await createProject({ name: 'v4-work', repo_url: 'https://git.example.com/v4/work.git', ci_config: V4_WORK_CI, ...quiet });
  seeded.v4RunnerB = await registerRunnerV4(seeded.v4Work.runners_token, 'contract-v4-b');
  await createPipeline(seeded.v4Work.id);
  seeded.v4Jobs = {};
  for (const name of V4_WORK_JOBS) seeded.v4Jobs[name] = await takeV4Job(seeded.v4RunnerB, name);

  // A runner of a project with no pipeline: nothing to do, ever.
  const idle = await createProject({ name: 'v4-idle', repo_url: 'https://git.example.com/v4/idle.git', ...quiet });
  seeded.v4IdleRunner = await registerRunnerV4(idle.runners_token, 'contract-v4-idle');
};

/** The job's stored log, read through the user API. */
async function storedLog(job) {
  const reply = await send('GET', `/api/v4/projects/${job.job_info.project_id}/jobs/${job.id}/trace`, { headers: { 'PRIVATE-TOKEN': ADMIN_TOKEN } });
  if (reply.status !== 200) throw new Error(`log of job ${job.id}: ${reply.status}`);
  return reply.body;
}

const v4Checksum = (bytes) => `crc32:${require('node:zlib').crc32(bytes).toString(16).padStart(8, '0')}`;

function v4Target(t, job, token = job.token) {
  need('v4Jobs');
  setPath(t, { id: job.id });
  setHeader(t, 'JOB-TOKEN', token);
  setHeader(t, 'PRIVATE-TOKEN', undefined);
}

for (const route of ['POST /api/v4/jobs/request', 'PUT /api/v4/jobs/{id}', 'PATCH /api/v4/jobs/{id}/trace']) UNAUTHENTICATED_ROUTES.add(route);

Object.assign(PLANS, {
  'POST /api/v4/jobs/request': {
    // Runner A's only pending job: rspec, with every key of the example.
    201: (t, { check }) => {
      need('v4Jobs');
      setJsonBody(t, { ...example(t), token: seeded.v4RunnerA.token });
      check(() => {
        const job = realJson(t);
        const dependency = job && job.dependencies[0];
        return dependency && dependency.id === seeded.v4Finished.id && dependency.token === seeded.v4Finished.token
          ? expectHeader(t, 'x-gitlab-last-update', undefined)
          : `dependencies: expected compile #${seeded.v4Finished.id} with its own token, got ${JSON.stringify(job && job.dependencies)}`;
      });
    },
    204: (t, { check }) => {
      need('v4Jobs');
      setJsonBody(t, { ...example(t), token: seeded.v4IdleRunner.token });
      check(() => (t.real.headers['x-gitlab-last-update'] ? undefined : 'expected X-GitLab-Last-Update'));
    },
    400: (t) => setJsonBody(t, omit(example(t), 'token')),
    403: (t) => setJsonBody(t, { ...example(t), token: WRONG_TOKEN }),
    413: (t) => setJsonBody(t, { ...example(t), token: WRONG_TOKEN, padding: oversized(BODY_LIMIT_BYTES) }),
  },

  'PUT /api/v4/jobs/{id}': {
    // The example finishes the job; its output is set to the stored log's, so it is taken at once.
    200: async (t, { check }) => {
      const job = seeded.v4Jobs && seeded.v4Jobs.finish;
      v4Target(t, job);
      const log = await storedLog(job);
      setJsonBody(t, { ...example(t), token: job.token, output: { checksum: v4Checksum(log), bytesize: log.length } });
      check(() => expectHeader(t, 'job-status', 'success'));
    },
    // A size the log does not have: the runner is asked to come back.
    202: (t, { check }) => {
      const job = seeded.v4Jobs && seeded.v4Jobs.wait;
      v4Target(t, job);
      setJsonBody(t, { ...example(t), token: job.token, output: { checksum: 'crc32:00000000', bytesize: 999 } });
      check(() => expectHeader(t, 'job-status', 'running'));
    },
    400: (t) => {
      const job = seeded.v4Jobs && seeded.v4Jobs.wait;
      v4Target(t, job);
      setJsonBody(t, { ...example(t), token: job.token, state: 'bogus' });
    },
    // A finished job: 403 names its status, so the runner stops.
    403: (t, { check }) => {
      v4Target(t, seeded.v4Finished);
      setJsonBody(t, { ...example(t), token: seeded.v4Finished.token });
      check(() => expectHeader(t, 'job-status', 'success'));
    },
    413: (t) => {
      const job = seeded.v4Jobs && seeded.v4Jobs.wait;
      v4Target(t, job);
      setJsonBody(t, { ...example(t), token: job.token, padding: oversized(BODY_LIMIT_BYTES) });
    },
  },

  'PATCH /api/v4/jobs/{id}/trace': {
    202: async (t, { check }) => {
      const job = seeded.v4Jobs && seeded.v4Jobs.trace;
      v4Target(t, job);
      const chunk = Buffer.from(t.request.body);
      const start = (await storedLog(job)).length;
      const end = start + chunk.length;
      setHeader(t, 'Content-Range', `${start}-${end - 1}`);
      t.expected.body = `0-${end}`;
      check(async () => {
        const log = await storedLog(job);
        return (
          expectHeader(t, 'range', `0-${end}`) ||
          expectHeader(t, 'job-status', 'running') ||
          expectHeader(t, 'x-gitlab-trace-update-interval', '60') ||
          (log.subarray(start).equals(chunk) ? undefined : `log: expected ${JSON.stringify(chunk.toString())} at ${start}, got ${JSON.stringify(log.toString())}`)
        );
      });
    },
    400: (t) => {
      v4Target(t, seeded.v4Jobs && seeded.v4Jobs.trace);
      setHeader(t, 'Content-Range', undefined);
    },
    403: (t, { check }) => {
      v4Target(t, seeded.v4Finished);
      check(() => expectHeader(t, 'job-status', 'success'));
    },
    413: (t) => {
      v4Target(t, seeded.v4Jobs && seeded.v4Jobs.trace);
      t.request.body = oversized(BODY_LIMIT_BYTES);
      setHeader(t, 'Content-Range', `0-${t.request.body.length - 1}`);
    },
    416: async (t, { check }) => {
      const job = seeded.v4Jobs && seeded.v4Jobs.trace;
      v4Target(t, job);
      setHeader(t, 'Content-Range', '100000-100020');
      const length = (await storedLog(job)).length;
      check(() => expectHeader(t, 'range', `0-${length}`));
    },
  },
});

// ---------------------------------------------------------------------------------------------
// Dredd hooks
// ---------------------------------------------------------------------------------------------

/**
 * afterEach checks registered by the plans, by transaction (names are not unique: JSON and form
 * variants). A check returns (or resolves to) a problem to report, or undefined.
 */
const checks = new Map();
/** What a plan changed on the server for its transaction alone, undone after it whatever the outcome. */
const undos = new Map();

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
  if (t.request.uri.startsWith('/api/v4/') && !UNAUTHENTICATED_ROUTES.has(route) && hasUserSecurity(t)) setHeader(t, 'PRIVATE-TOKEN', ADMIN_TOKEN);
  const media = mediaOf(t);
  const variant = `${json ? 'json' : 'plain'}:${media}`;
  await plan(t, {
    json,
    media,
    variant,
    form: isForm(t),
    multipart: isMultipart(t),
    check: (fn) => checks.set(t, fn),
    undo: (fn) => undos.set(t, fn),
  });
}

hooks.afterEach((t, done) => {
  const undo = undos.get(t);
  undos.delete(t);
  if (undo) undo();
  const check = checks.get(t);
  checks.delete(t);
  // Only a reply with the expected status is worth checking further: Dredd reports the rest.
  if (!check || !t.real || Number(t.real.statusCode) !== Number(t.expected.statusCode)) {
    done();
    return;
  }
  Promise.resolve()
    .then(check)
    .then(
      (problem) => {
        if (problem) t.fail = problem;
      },
      (err) => {
        t.fail = `check error: ${err && err.stack ? err.stack : err}`;
      },
    )
    .then(() => done());
});
