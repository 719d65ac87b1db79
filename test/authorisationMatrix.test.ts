// The authorisation matrix: every credential we issue against every endpoint and every object
// (its own build, another runner's build of the same project, another project's build). Only
// the cells the reference allows succeed (gitlab-ci-api-v1.md §1.2 and §7, runner-protocol-v4.md,
// README for the user API). Each cell is one real request; a cell "succeeds" when the request
// got past authentication and authorisation (a 416 for a deliberately wrong range counts: it is
// answered only to an authorised caller). Any other status than the row's own is a failure too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { RunnerApi, RUNNER_UA, type RawReply } from './support/runnerApi.js';
import { uploadArtifactsV4 } from './support/runnerV4Api.js';
import { UserApi } from './support/userApi.js';
import { V4_RUNNER_UA, v4Info } from './support/v4Api.js';
import { zipToBuffer } from './support/zip.js';

const VIEWER_TOKEN = 'viewer-token-for-the-matrix';

/** The columns of every table below, in this order. */
const CREDENTIALS = [
  'runner', // v1 runner token (specific runner of project A, running build a1)
  'runnerV4', // v4 runner token (POST /api/v4/runners, specific runner of project C; c1 and c2 run on it and on a second one)
  'glrt', // runner authentication token (POST /api/v4/user/runners)
  'build', // build token of a1, while a1 runs
  'buildDone', // build token of a0, after a0 ended (success)
  'job', // v4 job token of c1, while c1 runs
  'jobDone', // v4 job token of c0, after c0 ended (success)
  'runners', // project A's runners token
  'trigger', // a trigger token of project A
  'admin',
  'viewer',
  'registration',
  'session', // the admin's web session cookie (POST /-/session), without its CSRF token
  'sessionCsrf', // the same cookie with its X-CSRF-Token
] as const;
type Credential = (typeof CREDENTIALS)[number];

/**
 * The expected matrix of the runner API and the trigger endpoints: `Y` where the reference
 * lets the credential through, `.` where it must be refused. Objects: a1 = the runner's own
 * running build (build token `build`), a2 = another runner's running build of project A,
 * a0 = project A's finished build (`buildDone`), b1 = a running build of project B,
 * c1 = the running v4 job of project C (`job`), c0 = project C's finished v4 job of the
 * stage before, with an archive (`jobDone`), c2 = another v4 runner's running job of
 * project C, A/B = the projects. Rows run top to bottom;
 * destructive rows come last.
 */
const RUNNER_MATRIX: [row: string, expected: string][] = [
  //                                       runner runnerV4 glrt build buildDone job jobDone runners trigger admin viewer registration session sessionCsrf
  ['POST builds/register', /*               */ 'Y.............'],
  ['PUT builds/:id @a1', /*                 */ 'Y.............'],
  ['PUT builds/:id @a2', /*                 */ '..............'],
  ['PUT builds/:id @b1', /*                 */ '..............'],
  ['PATCH builds/:id/trace.txt @a1', /*     */ '...Y...Y......'],
  ['PATCH builds/:id/trace.txt @a2', /*     */ '.......Y......'],
  ['PATCH builds/:id/trace.txt @a0', /*     */ '....Y..Y......'],
  ['PATCH builds/:id/trace.txt @b1', /*     */ '..............'],
  // A job's own token opens its trace by either API (v1's rule: the build's own token); it
  // never sets the job's state through the other API (the PUT rows).
  ['PATCH builds/:id/trace.txt @c1', /*     */ '.....Y........'],
  ['PUT builds/:id @c1', /*                 */ '..............'],
  ['PATCH builds/:id/trace.txt @c0', /*     */ '......Y.......'],
  ['PATCH builds/:id/trace.txt @c2', /*     */ '..............'],
  ['POST builds/:id/artifacts @a1', /*      */ '...Y...Y......'],
  ['POST builds/:id/artifacts @a0', /*      */ '..............'],
  ['POST builds/:id/artifacts @b1', /*      */ '..............'],
  ['POST builds/:id/artifacts @c1', /*      */ '..............'],
  ['GET builds/:id/artifacts @a1', /*       */ '...Y...Y......'],
  ['GET builds/:id/artifacts @a0', /*       */ '....Y..Y......'],
  ['GET builds/:id/artifacts @b1', /*       */ '..............'],
  ['GET builds/:id/artifacts @c0', /*       */ '......Y.......'],
  ['POST runners/register', /*              */ '.......Y...Y..'],
  ['POST /api/v4/runners', /*               */ '.......Y...Y..'],
  ['POST /api/v4/runners/verify', /*        */ '.YY...........'],
  ['POST /api/v4/jobs/request', /*          */ '.YY...........'],
  ['PUT /api/v4/jobs/:id @c1', /*           */ '.....Y........'],
  ['PUT /api/v4/jobs/:id @a1', /*           */ '..............'],
  // A finished job's token opens no v4 job update (403, Job-Status), its own included.
  ['PUT /api/v4/jobs/:id @c0', /*           */ '..............'],
  ['PUT /api/v4/jobs/:id @c2', /*           */ '..............'],
  ['PATCH /api/v4/jobs/:id/trace @c1', /*   */ '.....Y........'],
  ['PATCH /api/v4/jobs/:id/trace @a1', /*   */ '..............'],
  ['PATCH /api/v4/jobs/:id/trace @c0', /*   */ '..............'],
  ['PATCH /api/v4/jobs/:id/trace @c2', /*   */ '..............'],
  ['POST /api/v4/jobs/:id/artifacts @c1', /**/ '.....Y........'],
  ['POST /api/v4/jobs/:id/artifacts @a1', /**/ '..............'],
  ['POST /api/v4/jobs/:id/artifacts @c0', /**/ '..............'],
  ['POST /api/v4/jobs/:id/artifacts @c2', /**/ '..............'],
  ['GET /api/v4/jobs/:id/artifacts @a0', /* */ '...YY.........'],
  ['GET /api/v4/jobs/:id/artifacts @b1', /* */ '..............'],
  // The runner downloads a dependency with the dependency's own token (runner-protocol-v4.md §5.2), or a
  // running job of the same project downloads it; a finished job's token opens nothing else.
  ['GET /api/v4/jobs/:id/artifacts @c0', /* */ '.....YY.......'],
  ['POST trigger/pipeline @A', /*           */ '........Y.....'],
  ['POST trigger/pipeline @B', /*           */ '..............'],
  ['POST refs/:ref/trigger @A', /*          */ '........Y.....'],
  ['POST refs/:ref/trigger @B', /*          */ '..............'],
  ['DELETE builds/:id/artifacts @b1', /*    */ '..............'],
  ['DELETE builds/:id/artifacts @a0', /*    */ '....Y..Y......'],
  ['DELETE builds/:id/artifacts @a1', /*    */ '...Y...Y......'],
  ['DELETE runners/delete', /*              */ 'Y.............'],
  // GitLab's DELETE /runners takes either kind of runner token, glrt- included.
  ['DELETE /api/v4/runners', /*             */ '.YY...........'],
];

/**
 * The user API (PRIVATE-TOKEN): every operation of openapi.yaml with a security requirement,
 * called on objects that do not exist, so that no cell changes anything; a 404 or 400 means
 * the caller got past authorisation. read = admin and viewer; secret = admin only (variables,
 * trigger tokens); write = admin only (the viewer is read-only), viewer-write = both (lint);
 * session = only the web session's cookie opens it, no PRIVATE-TOKEN. The admin's session
 * cookie reads what the admin reads; what changes something takes it only with the
 * session's X-CSRF-Token (403 without).
 */
const USER_API_RULES = { read: '.........YY.YY', secret: '.........Y..YY', write: '.........Y...Y', 'viewer-write': '.........YY..Y', session: '............YY' };
const USER_API_MATRIX: Record<string, keyof typeof USER_API_RULES> = {
  listOwnedRunners: 'read', createUserRunner: 'write', createProject: 'write', listProjects: 'read', getProject: 'read',
  deleteProject: 'write', createPipeline: 'write', getPipeline: 'read', listPipelineJobs: 'read', getJob: 'read',
  getJobTrace: 'read', downloadJobArtifacts: 'read', listPipelines: 'read', cancelPipeline: 'write', retryPipeline: 'write',
  listProjectJobs: 'read', cancelJob: 'write', retryJob: 'write', playJob: 'write', eraseJob: 'write',
  listAllRunners: 'read', getRunner: 'read', updateRunner: 'write', deleteRunnerById: 'write',
  assignProjectRunner: 'write', unassignProjectRunner: 'write', listProjectVariables: 'secret', createProjectVariable: 'write',
  getProjectVariable: 'secret', updateProjectVariable: 'write', deleteProjectVariable: 'write', listTriggers: 'secret',
  createTrigger: 'write', deleteTrigger: 'write', lintCiConfig: 'viewer-write', streamJobTrace: 'read', getSession: 'session',
};

/** Operations that take no credential of ours at all (health, metrics, badge, web assets, sign-in). */
const PUBLIC_OPERATIONS = new Set([
  'getPipelineBadge', 'getHealth', 'getLiveness', 'getReadiness', 'getMetrics', 'createSession', 'deleteSession',
  'getWebView', 'getWebViewScript', 'getWebViewStyles', 'getApiReference', 'getApiReferenceScript', 'getOpenApiDocument',
]);

/** Which runner-matrix row covers each runner or trigger operation (the .json twins share their row's code). */
const RUNNER_OPERATION_ROWS: Record<string, string> = {
  registerBuild: 'POST builds/register', registerBuildJson: 'POST builds/register',
  updateBuild: 'PUT builds/:id', updateBuildJson: 'PUT builds/:id', appendBuildTrace: 'PATCH builds/:id/trace.txt',
  uploadBuildArtifacts: 'POST builds/:id/artifacts', uploadBuildArtifactsJson: 'POST builds/:id/artifacts',
  downloadBuildArtifacts: 'GET builds/:id/artifacts', downloadBuildArtifactsJson: 'GET builds/:id/artifacts',
  deleteBuildArtifacts: 'DELETE builds/:id/artifacts', deleteBuildArtifactsJson: 'DELETE builds/:id/artifacts',
  registerRunner: 'POST runners/register', registerRunnerJson: 'POST runners/register',
  deleteRunner: 'DELETE runners/delete', deleteRunnerJson: 'DELETE runners/delete',
  requestJob: 'POST /api/v4/jobs/request', updateJob: 'PUT /api/v4/jobs/:id', appendJobTrace: 'PATCH /api/v4/jobs/:id/trace',
  registerRunnerV4: 'POST /api/v4/runners', deleteRunnerV4: 'DELETE /api/v4/runners', verifyRunnerV4: 'POST /api/v4/runners/verify',
  deleteRunnerManagerV4: 'DELETE /api/v4/runners', uploadJobArtifactsV4: 'POST /api/v4/jobs/:id/artifacts',
  downloadJobArtifactsV4: 'GET /api/v4/jobs/:id/artifacts', triggerPipeline: 'POST trigger/pipeline',
  triggerBuildsLegacy: 'POST refs/:ref/trigger', triggerBuildsLegacyJson: 'POST refs/:ref/trigger',
};

interface World {
  coordinator: TestCoordinator;
  raw: RunnerApi;
  tokens: Record<Credential, string>;
  /** Headers a credential travels in besides its token (the session cookie, its CSRF token). */
  headers: Partial<Record<Credential, Record<string, string>>>;
  builds: { a0: number; a1: number; a2: number; b1: number; c0: number; c1: number; c2: number };
  projects: { A: number; B: number };
}

const ONE_STAGE_THEN_TWO = 'a0:\n  stage: build\n  script: make\na1:\n  stage: test\n  script: make test\na2:\n  stage: test\n  script: make lint\n';
const ONE_JOB = (name: string) => `${name}:\n  script: make\n`;
const TWO_STAGES_C = 'c0:\n  stage: build\n  script: make\nc1:\n  stage: test\n  script: make test\nc2:\n  stage: test\n  script: make lint\n';

async function setUp(): Promise<World> {
  const coordinator = await startTestCoordinator({ CI_VIEWER_TOKEN: VIEWER_TOKEN });
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const raw = new RunnerApi(coordinator.url);
  const v1 = (path: string, body: unknown) => raw.request('POST', path, body, { 'User-Agent': RUNNER_UA });
  const json = <T>(reply: { status: number; text: string; json?: unknown; body?: unknown }, status: number, what: string): T => {
    assert.equal(reply.status, status, `${what}: ${reply.text}`);
    return ('json' in reply ? reply.json : reply.body) as T;
  };
  const projectOptions = { shared_runners_enabled: false, repo_url: 'https://git.example.com/matrix.git' };
  const projectA = await api.createProject({ ...projectOptions, name: 'A', ci_config: ONE_STAGE_THEN_TWO });
  const projectB = await api.createProject({ ...projectOptions, name: 'B', ci_config: ONE_JOB('b1') });
  const projectC = await api.createProject({ ...projectOptions, name: 'C', ci_config: TWO_STAGES_C });
  const register = async (token: string) => json<{ token: string }>(await v1('/ci/api/v1/runners/register.json', { token, run_untagged: true }), 201, 'register').token;
  const runnerA = await register(projectA.runners_token);
  const runnerA2 = await register(projectA.runners_token);
  const runnerB = await register(projectB.runners_token);
  const take = async (token: string) => json<{ id: number; token: string }>(await v1('/ci/api/v1/builds/register.json', { token }), 201, 'builds/register');
  const upload = async (id: number, token: string) => {
    const zip = await zipToBuffer({ 'out.txt': 'artifact' });
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(zip)]), 'artifacts.zip');
    const reply = await fetch(`${coordinator.url}/ci/api/v1/builds/${id}/artifacts`, { method: 'POST', headers: { 'BUILD-TOKEN': token }, body: form });
    assert.equal(reply.status, 201, await reply.text());
  };

  await api.createPipeline(projectA.id, { ci_config: ONE_STAGE_THEN_TWO });
  const a0 = await take(runnerA);
  await upload(a0.id, a0.token);
  assert.equal((await raw.request('PUT', `/ci/api/v1/builds/${a0.id}`, { token: runnerA, state: 'success' })).status, 200);
  const a1 = await take(runnerA);
  await upload(a1.id, a1.token);
  const a2 = await take(runnerA2);
  await api.createPipeline(projectB.id, { ci_config: ONE_JOB('b1') });
  const b1 = await take(runnerB);
  await upload(b1.id, b1.token);

  const runnerV4 = json<{ token: string }>(await raw.request('POST', '/api/v4/runners', { token: projectC.runners_token, run_untagged: true }), 201, 'v4 register').token;
  await api.createPipeline(projectC.id, { ci_config: TWO_STAGES_C });
  const takeV4 = async (token = runnerV4) =>
    json<{ id: number; token: string; job_info: { name: string } }>(await raw.request('POST', '/api/v4/jobs/request', { token, info: v4Info() }, { 'User-Agent': V4_RUNNER_UA }), 201, 'jobs/request');
  const c0 = await takeV4();
  const c0Upload = await uploadArtifactsV4(coordinator.url, c0.id, await zipToBuffer({ 'out.txt': 'artifact of c0' }), { jobToken: c0.token });
  assert.equal(c0Upload.status, 201, c0Upload.text);
  assert.equal((await raw.request('PUT', `/api/v4/jobs/${c0.id}`, { token: c0.token, state: 'success', info: v4Info() }, { 'User-Agent': V4_RUNNER_UA })).status, 200);
  // c1 and c2 on two v4 runners of project C, one each.
  const runnerV4b = json<{ token: string }>(await raw.request('POST', '/api/v4/runners', { token: projectC.runners_token, run_untagged: true }), 201, 'v4 register').token;
  const [first, second] = [await takeV4(), await takeV4(runnerV4b)];
  const [c1, c2] = first.job_info.name === 'c1' ? [first, second] : [second, first];
  assert.deepEqual([c1.job_info.name, c2.job_info.name], ['c1', 'c2']);
  // Shared (instance) runners are off for A, B and C: the glrt- runner never takes their builds.
  const glrt = json<{ token: string }>(await api.request('POST', '/api/v4/user/runners', { runner_type: 'instance_type', run_untagged: true }), 201, 'user/runners').token;
  assert.match(glrt, /^glrt-/);
  const trigger = json<{ token: string }>(await api.request('POST', `/api/v4/projects/${projectA.id}/triggers`, {}), 201, 'trigger').token;
  const signIn = await fetch(`${coordinator.url}/-/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: coordinator.adminToken }) });
  assert.equal(signIn.status, 201);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
  const { csrf_token: csrfToken } = (await signIn.json()) as { csrf_token: string };
  return {
    coordinator,
    raw,
    headers: { session: { Cookie: cookie }, sessionCsrf: { Cookie: cookie, 'X-CSRF-Token': csrfToken } },
    tokens: {
      runner: runnerA, runnerV4, glrt, build: a1.token, buildDone: a0.token, job: c1.token, jobDone: c0.token, runners: projectA.runners_token,
      trigger, admin: coordinator.adminToken, viewer: VIEWER_TOKEN, registration: coordinator.registrationToken,
      // A cookie is no runner credential: the runner API gets a token that opens nothing beside it.
      session: 'only-a-session-cookie', sessionCsrf: 'only-a-session-cookie',
    },
    builds: { a0: a0.id, a1: a1.id, a2: a2.id, b1: b1.id, c0: c0.id, c1: c1.id, c2: c2.id },
    projects: { A: projectA.id, B: projectB.id },
  };
}

type Outcome = 'Y' | '.';

/** How one row calls its endpoint with a token, and which statuses mean through (Y) or refused (.). */
interface RowCall {
  send(token: string): Promise<RawReply>;
  through: number[];
  refused: number[];
}

function rowCall(world: World, row: string, extra: Record<string, string> = {}): RowCall {
  const { raw, builds, projects } = world;
  const [name, at] = row.split(' @') as [string, string | undefined];
  const buildId = at && at in builds ? builds[at as keyof World['builds']] : 0;
  const projectId = at && at in projects ? projects[at as keyof World['projects']] : 0;
  const v1Headers = { 'User-Agent': RUNNER_UA, ...extra };
  const v4Headers = { 'User-Agent': V4_RUNNER_UA, ...extra };
  const emptyMultipart = (headers: Record<string, string>) => ({ ...headers, 'Content-Type': 'multipart/form-data; boundary=matrix' });
  const endOfForm = Buffer.from('--matrix--\r\n');
  switch (name) {
    case 'POST builds/register':
      return { send: (token) => raw.request('POST', '/ci/api/v1/builds/register.json', { token }, v1Headers), through: [201, 204], refused: [403] };
    case 'PUT builds/:id':
      return { send: (token) => raw.request('PUT', `/ci/api/v1/builds/${buildId}`, { token }, v1Headers), through: [200], refused: [403, 404] };
    case 'PATCH builds/:id/trace.txt':
      // Content-Range far ahead of the stored trace: 416 for an authorised caller, nothing appended.
      return {
        send: (token) => raw.send('PATCH', `/ci/api/v1/builds/${buildId}/trace.txt`, Buffer.from('x'), { ...v1Headers, 'BUILD-TOKEN': token, 'Content-Type': 'text/plain', 'Content-Range': '999999-1000000' }),
        through: [416],
        refused: [403, 404],
      };
    case 'POST builds/:id/artifacts':
      // A form with no file: 400 for an authorised caller, nothing stored.
      return { send: (token) => raw.send('POST', `/ci/api/v1/builds/${buildId}/artifacts`, endOfForm, emptyMultipart({ ...v1Headers, 'BUILD-TOKEN': token })), through: [400], refused: [403, 404] };
    case 'GET builds/:id/artifacts':
      return { send: (token) => raw.send('GET', `/ci/api/v1/builds/${buildId}/artifacts`, undefined, { ...v1Headers, 'BUILD-TOKEN': token }), through: [200], refused: [403, 404] };
    case 'DELETE builds/:id/artifacts':
      return { send: (token) => raw.send('DELETE', `/ci/api/v1/builds/${buildId}/artifacts`, undefined, { ...v1Headers, 'BUILD-TOKEN': token }), through: [200], refused: [403, 404] };
    case 'POST runners/register':
      return { send: (token) => raw.request('POST', '/ci/api/v1/runners/register.json', { token }, v1Headers), through: [201], refused: [403] };
    case 'DELETE runners/delete':
      return { send: (token) => raw.request('DELETE', '/ci/api/v1/runners/delete.json', { token }, v1Headers), through: [200], refused: [403] };
    case 'POST /api/v4/runners':
      return { send: (token) => raw.request('POST', '/api/v4/runners', { token }, v4Headers), through: [201], refused: [403] };
    case 'POST /api/v4/runners/verify':
      return { send: (token) => raw.request('POST', '/api/v4/runners/verify', { token }, v4Headers), through: [200], refused: [403] };
    case 'DELETE /api/v4/runners':
      return { send: (token) => raw.request('DELETE', '/api/v4/runners', { token }, v4Headers), through: [204], refused: [403] };
    case 'POST /api/v4/jobs/request':
      return { send: (token) => raw.request('POST', '/api/v4/jobs/request', { token, info: v4Info() }, v4Headers), through: [201, 204], refused: [403] };
    case 'PUT /api/v4/jobs/:id':
      // The keep-alive: changes nothing.
      return { send: (token) => raw.request('PUT', `/api/v4/jobs/${buildId}`, { token, state: 'running', info: v4Info() }, v4Headers), through: [200], refused: [403, 404] };
    case 'PATCH /api/v4/jobs/:id/trace':
      return {
        send: (token) => raw.send('PATCH', `/api/v4/jobs/${buildId}/trace`, Buffer.from('x'), { ...v4Headers, 'JOB-TOKEN': token, 'Content-Type': 'text/plain', 'Content-Range': '999999-999999' }),
        through: [416],
        refused: [403, 404],
      };
    case 'POST /api/v4/jobs/:id/artifacts':
      return { send: (token) => raw.send('POST', `/api/v4/jobs/${buildId}/artifacts`, endOfForm, emptyMultipart({ ...v4Headers, 'JOB-TOKEN': token })), through: [400], refused: [401, 403, 404] };
    case 'GET /api/v4/jobs/:id/artifacts':
      return { send: (token) => raw.send('GET', `/api/v4/jobs/${buildId}/artifacts`, undefined, { ...v4Headers, 'JOB-TOKEN': token }), through: [200], refused: [401, 403, 404] };
    case 'POST trigger/pipeline':
      return { send: (token) => raw.request('POST', `/api/v4/projects/${projectId}/trigger/pipeline`, { token, ref: 'master' }, extra), through: [201], refused: [401, 404] };
    case 'POST refs/:ref/trigger':
      return { send: (token) => raw.request('POST', `/ci/api/v1/projects/${projectId}/refs/master/trigger`, { token }, extra), through: [201], refused: [401, 404] };
    default:
      throw new Error(`no call for row ${row}`);
  }
}

/** The operations of openapi.yaml with their method, path and whether they declare a security requirement. */
function specOperations(): { operationId: string; method: string; path: string; secured: boolean }[] {
  const spec = parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'openapi.yaml'), 'utf8')) as {
    paths: Record<string, Record<string, { operationId?: string; security?: unknown[] }>>;
  };
  return Object.entries(spec.paths).flatMap(([route, operations]) =>
    Object.entries(operations)
      .filter(([, operation]) => typeof operation === 'object' && operation?.operationId)
      .map(([method, operation]) => ({ operationId: operation.operationId!, method: method.toUpperCase(), path: route, secured: (operation.security ?? []).length > 0 })),
  );
}

/** A user-API path with every parameter naming something that does not exist. */
function nowherePath(route: string): string {
  return route.replace(/\{key\}/g, 'NO_SUCH_KEY').replace(/\{[a-z_]+\}/g, '999999');
}

describe('authorisation matrix', () => {
  let world: World;
  before(async () => {
    world = await setUp();
  });
  after(() => world?.coordinator.stop());

  test('the tables name every operation of openapi.yaml', () => {
    const rows = new Set(RUNNER_MATRIX.map(([row]) => row.split(' @')[0]));
    for (const { operationId, secured } of specOperations()) {
      if (PUBLIC_OPERATIONS.has(operationId)) continue;
      if (secured) assert.ok(USER_API_MATRIX[operationId], `${operationId} (PRIVATE-TOKEN) is missing from USER_API_MATRIX`);
      else assert.ok(rows.has(RUNNER_OPERATION_ROWS[operationId] ?? ''), `${operationId} is missing from RUNNER_MATRIX`);
    }
  });

  test('runner API and triggers: only the cells the reference allows get through', async () => {
    const wrong: string[] = [];
    for (const [row, expected] of RUNNER_MATRIX) {
      assert.equal(expected.length, CREDENTIALS.length, row);
      for (const [index, credential] of CREDENTIALS.entries()) {
        const call = rowCall(world, row, world.headers[credential]);
        const reply = await call.send(world.tokens[credential]);
        const outcome: Outcome | undefined = call.through.includes(reply.status) ? 'Y' : call.refused.includes(reply.status) ? '.' : undefined;
        if (outcome !== expected[index]) wrong.push(`${row} with ${credential}: expected ${expected[index]}, got ${reply.status} ${reply.text.slice(0, 120)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('user API: every operation, admin through, viewer and session cookie only where they may, every other credential 401', async () => {
    const wrong: string[] = [];
    for (const { operationId, method, path: route, secured } of specOperations()) {
      if (!secured || PUBLIC_OPERATIONS.has(operationId)) continue;
      const expected = USER_API_RULES[USER_API_MATRIX[operationId]!];
      for (const [index, credential] of CREDENTIALS.entries()) {
        const body = method === 'GET' || method === 'DELETE' ? undefined : {};
        const headers = world.headers[credential] ?? { 'PRIVATE-TOKEN': world.tokens[credential] };
        const reply = await world.raw.request(method, nowherePath(route), body, headers);
        const outcome: Outcome | undefined = [401, 403].includes(reply.status) ? '.' : reply.status < 500 ? 'Y' : undefined;
        if (outcome !== expected[index]) wrong.push(`${operationId} with ${credential}: expected ${expected[index]}, got ${reply.status} ${reply.text.slice(0, 120)}`);
        // Refused: 401 for whoever is nobody here; the viewer (read-only) and a session without its CSRF token are somebody, so 403.
        const refusal = credential === 'viewer' || credential === 'session' ? [401, 403] : [401];
        if (expected[index] === '.' && !refusal.includes(reply.status)) wrong.push(`${operationId} with ${credential}: ${refusal.join(' or ')} expected, got ${reply.status}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
