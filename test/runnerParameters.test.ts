// Issue 6: every runner endpoint takes its parameters from a JSON body, a urlencoded form, a
// multipart form or the query string, as GitLab 8.x (Grape on Rack) did, with the same result;
// which source wins when two give the same parameter; how form text becomes booleans, tag
// lists and nested `info`. Against a real server, with the bytes curl would send.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { components } from '../src/generated/api.js';
import { encodeParameters, multipartBody, PARAMETER_FORMS, type ParameterForm } from './support/parameterForms.js';
import { RUNNER_UA, RunnerApi, storedTrace, type RawReply } from './support/runnerApi.js';
import { startBuildWorld, type BuildWorld, type RunningBuild } from './support/runningBuilds.js';
import { zipToBuffer } from './support/zip.js';
import { findRunnerByToken } from '../src/store/runners.js';

type RunnerDetails = components['schemas']['RunnerDetails'];

const RUNNER_INFO = { name: 'gitlab-ci-multi-runner', version: '1.11.5', revision: 'cbfcb5c8', platform: 'linux', architecture: 'amd64' };
const WRONG_TOKEN = 'not-a-valid-token';

describe('runner endpoints take their parameters in any of four forms', () => {
  let world: BuildWorld;
  let runners: RunnerApi;
  let registrationToken: string;
  before(async () => {
    world = await startBuildWorld();
    runners = new RunnerApi(world.coordinator.url);
    registrationToken = world.coordinator.registrationToken;
  });
  after(() => world.stop());

  /** `parameters` sent in `form`; `headers` are added (a runner's User-Agent unless told otherwise). */
  function call(method: string, path: string, form: ParameterForm, parameters: Record<string, unknown>, headers: Record<string, string> = {}): Promise<RawReply> {
    const request = encodeParameters(path, form, parameters);
    return runners.send(method, request.path, request.body, { 'User-Agent': RUNNER_UA, ...request.headers, ...headers });
  }

  async function runnerDetails(id: number): Promise<RunnerDetails> {
    const reply = await world.api.request<RunnerDetails>('GET', `/api/v4/runners/${id}`);
    assert.equal(reply.status, 200, reply.text);
    return reply.body;
  }

  const runnerIdOf = async (token: string): Promise<number> => (await findRunnerByToken(world.coordinator.db, token))!.id;
  const buildRow = (id: number) => world.coordinator.db('builds').where({ id }).first();

  /** A running build with an archive uploaded (multipart, BUILD-TOKEN), whose bytes are returned. */
  async function buildWithArtifacts(): Promise<{ running: RunningBuild; archive: Buffer }> {
    const running = await world.builds.start();
    const archive = await zipToBuffer({ 'out/report.txt': `report of build ${running.build.id}\n` });
    const form = multipartBody([{ name: 'file', value: archive, filename: 'artifacts.zip' }]);
    const reply = await runners.send('POST', `/ci/api/v1/builds/${running.build.id}/artifacts`, form.body, {
      'Content-Type': form.contentType,
      'BUILD-TOKEN': running.build.token,
    });
    assert.equal(reply.status, 201, reply.text);
    return { running, archive };
  }

  describe('the same call in all four forms gives the same result', () => {
    test('runners/register (and .json): the same runner, tags, flags and info', async () => {
      const parameters = { token: registrationToken, description: 'forms runner', tag_list: 'docker, linux', run_untagged: false, locked: true, info: RUNNER_INFO };
      const seen: unknown[] = [];
      for (const path of ['/ci/api/v1/runners/register', '/ci/api/v1/runners/register.json']) {
        for (const form of PARAMETER_FORMS) {
          const reply = await call('POST', path, form, parameters);
          assert.equal(reply.status, 201, `${form} ${path}: ${reply.text}`);
          assert.deepEqual(Object.keys(reply.json as object).sort(), ['id', 'token']);
          const { id, contacted_at, ...details } = await runnerDetails((reply.json as { id: number }).id);
          seen.push(details);
        }
      }
      assert.deepEqual(seen[0], {
        description: 'forms runner',
        active: true,
        is_shared: true,
        name: 'gitlab-ci-multi-runner',
        online: false,
        status: 'not_connected',
        tag_list: ['docker', 'linux'],
        run_untagged: false,
        locked: true,
        version: '1.11.5',
        revision: 'cbfcb5c8',
        platform: 'linux',
        architecture: 'amd64',
        projects: [],
        // What registration through /api/v4/runners can also set; v1 leaves GitLab's defaults.
        access_level: 'not_protected',
        api_version: 'v1',
        maintenance_note: null,
        maximum_timeout: null,
        paused: false,
        runner_type: 'instance_type',
      });
      for (const details of seen) assert.deepEqual(details, seen[0]);
    });

    test('builds/register (and .json): 201 with the build, then 204 or 404 by User-Agent, 403 for a wrong token', async () => {
      const results: unknown[] = [];
      for (const path of ['/ci/api/v1/builds/register', '/ci/api/v1/builds/register.json']) {
        for (const form of PARAMETER_FORMS) {
          const { runner } = await world.builds.prepare();
          const parameters = { token: runner.token, info: { ...RUNNER_INFO, version: '1.11.4', features: { cache: true } } };
          const assigned = await call('POST', path, form, parameters);
          assert.equal(assigned.status, 201, `${form} ${path}: ${assigned.text}`);
          const build = assigned.json as { id: number; name: string; stage: string; commands: string; status: string; ref: string };
          const noBuildForRunner = await call('POST', path, form, parameters);
          const noBuildForCurl = await call('POST', path, form, parameters, { 'User-Agent': 'curl/7.88.1' });
          const wrongToken = await call('POST', path, form, { ...parameters, token: WRONG_TOKEN });
          results.push({
            build: { name: build.name, stage: build.stage, commands: build.commands, status: build.status, ref: build.ref },
            buildStatus: (await buildRow(build.id)).status,
            // info[version] was recorded as the runner's.
            version: (await runnerDetails(await runnerIdOf(runner.token))).version,
            after: [noBuildForRunner.status, noBuildForRunner.text, noBuildForCurl.status, noBuildForCurl.text, wrongToken.status, wrongToken.text],
          });
        }
      }
      assert.deepEqual(results[0], {
        build: { name: 'rspec', stage: 'test', commands: 'rspec', status: 'running', ref: 'master' },
        buildStatus: 'running',
        version: '1.11.4',
        after: [204, '', 404, '{"message":"404 Not Found"}', 403, '{"message":"403 Forbidden"}'],
      });
      for (const result of results) assert.deepEqual(result, results[0]);
    });

    test('PUT builds/:id (and .json): the state and the whole trace, byte for byte', async () => {
      const trace = 'Running with gitlab-ci-multi-runner 1.11.5\r\n$ make\nJob succeeded ✓ 100% & done=yes+no\n';
      for (const suffix of ['', '.json']) {
        for (const form of PARAMETER_FORMS) {
          const { build, runner } = await world.builds.start();
          const reply = await call('PUT', `/ci/api/v1/builds/${build.id}${suffix}`, form, { token: runner.token, state: 'success', trace });
          assert.equal(reply.status, 200, `${form}${suffix}: ${reply.text}`);
          assert.equal(reply.text, 'true', `${form}${suffix}`);
          assert.equal((await buildRow(build.id)).status, 'success', `${form}${suffix}`);
          assert.equal(await storedTrace(world.coordinator.db, build.id), trace, `${form}${suffix}`);
        }
      }
    });

    test('GET builds/:id/artifacts (and .json): the token from any form downloads the same bytes', async () => {
      const { running, archive } = await buildWithArtifacts();
      for (const suffix of ['', '.json']) {
        for (const form of PARAMETER_FORMS) {
          const reply = await call('GET', `/ci/api/v1/builds/${running.build.id}/artifacts${suffix}`, form, { token: running.build.token });
          assert.equal(reply.status, 200, `${form}${suffix}: ${reply.text}`);
          assert.ok(reply.body.equals(archive), `${form}${suffix}: the archive, byte for byte`);
          assert.equal(reply.headers['content-type'], 'application/octet-stream');
          assert.equal(reply.headers['content-disposition'], 'attachment; filename=artifacts.zip');
          const refused = await call('GET', `/ci/api/v1/builds/${running.build.id}/artifacts${suffix}`, form, { token: WRONG_TOKEN });
          assert.deepEqual([refused.status, refused.text], [403, '{"message":"403 Forbidden"}'], `${form}${suffix}`);
        }
      }
    });

    test('DELETE builds/:id/artifacts (and .json): the token from any form deletes the archive', async () => {
      for (const suffix of ['', '.json']) {
        for (const form of PARAMETER_FORMS) {
          const { running } = await buildWithArtifacts();
          const path = `/ci/api/v1/builds/${running.build.id}/artifacts${suffix}`;
          const refused = await call('DELETE', path, form, { token: WRONG_TOKEN });
          assert.deepEqual([refused.status, refused.text], [403, '{"message":"403 Forbidden"}'], `${form}${suffix}`);
          const reply = await call('DELETE', path, form, { token: running.build.token });
          assert.deepEqual([reply.status, reply.text], [200, 'true'], `${form}${suffix}`);
          const download = await runners.send('GET', path, undefined, { 'BUILD-TOKEN': running.build.token });
          assert.equal(download.status, 404, `${form}${suffix}: gone`);
        }
      }
    });

    test('runners/delete (and .json): the token from any form removes the runner', async () => {
      for (const path of ['/ci/api/v1/runners/delete', '/ci/api/v1/runners/delete.json']) {
        for (const form of PARAMETER_FORMS) {
          const registered = await runners.registerRunner({ token: registrationToken, description: `doomed ${form}` });
          const reply = await call('DELETE', path, form, { token: registered.token });
          assert.equal(reply.status, 200, `${form} ${path}: ${reply.text}`);
          assert.deepEqual(reply.json, registered, `${form} ${path}`);
          assert.equal(await world.coordinator.db('runners').where({ id: registered.id }).first(), undefined, `${form} ${path}: gone`);
          const again = await call('DELETE', path, form, { token: registered.token });
          assert.equal(again.status, 403, `${form} ${path}`);
        }
      }
    });

    test('a missing token is named the GitLab way whatever the form', async () => {
      const { build } = await world.builds.start();
      const calls: [string, string, Record<string, unknown>][] = [
        ['POST', '/ci/api/v1/builds/register.json', { info: RUNNER_INFO }],
        ['PUT', `/ci/api/v1/builds/${build.id}.json`, { state: 'success' }],
        ['POST', '/ci/api/v1/runners/register.json', { description: 'no token' }],
        ['DELETE', '/ci/api/v1/runners/delete', {}],
      ];
      for (const [method, path, parameters] of calls) {
        for (const form of PARAMETER_FORMS) {
          const reply = await call(method, path, form, parameters);
          assert.deepEqual([reply.status, reply.json], [400, { message: '400 (Bad request) "token" not given' }], `${method} ${path} as ${form}`);
        }
      }
      assert.equal((await buildRow(build.id)).status, 'running');
    });
  });

  describe('when two sources give the same parameter', () => {
    test('a body parameter (JSON, urlencoded or multipart) wins over the query string', async () => {
      for (const form of ['json', 'urlencoded', 'multipart'] as const) {
        const bodyWins = await call('POST', `/ci/api/v1/runners/register?token=${WRONG_TOKEN}&description=from-query`, form, { token: registrationToken, description: `from-${form}` });
        assert.equal(bodyWins.status, 201, `${form}: ${bodyWins.text}`);
        const details = await runnerDetails((bodyWins.json as { id: number }).id);
        assert.equal(details.description, `from-${form}`);
        const queryLoses = await call('POST', `/ci/api/v1/runners/register?token=${registrationToken}`, form, { token: WRONG_TOKEN });
        assert.equal(queryLoses.status, 403, form);
      }
      // What only the query string gives is still read: the body's token, the query's description.
      const mixed = await call('POST', '/ci/api/v1/runners/register?description=only-in-query&run_untagged=false&tag_list=q', 'urlencoded', { token: registrationToken });
      const details = await runnerDetails((mixed.json as { id: number }).id);
      assert.deepEqual([details.description, details.run_untagged, details.tag_list], ['only-in-query', false, ['q']]);
    });

    test('a `token` parameter wins over the BUILD-TOKEN header, from the body or the query string', async () => {
      const { running } = await buildWithArtifacts();
      const path = `/ci/api/v1/builds/${running.build.id}/artifacts`;
      for (const form of PARAMETER_FORMS) {
        const refused = await call('GET', path, form, { token: WRONG_TOKEN }, { 'BUILD-TOKEN': running.build.token });
        assert.equal(refused.status, 403, `${form}: a wrong parameter is not saved by a right header`);
        const accepted = await call('GET', path, form, { token: running.build.token }, { 'BUILD-TOKEN': WRONG_TOKEN });
        assert.equal(accepted.status, 200, `${form}: a right parameter wins over a wrong header`);
      }
      const trace = await runners.send('PATCH', `/ci/api/v1/builds/${running.build.id}/trace.txt?token=${running.build.token}`, Buffer.from('chunk'), {
        'BUILD-TOKEN': WRONG_TOKEN,
        'Content-Range': '0-5',
      });
      assert.equal(trace.status, 202, trace.text);
    });

    test('the path parameter wins over an `id` in the body or the query string', async () => {
      const target = await world.builds.start();
      const other = await world.builds.start();
      for (const form of PARAMETER_FORMS) {
        // The query form carries the other id as a parameter; the others carry it in the body and the query string.
        const query = form === 'query' ? '' : `?id=${other.build.id}`;
        const reply = await call('PUT', `/ci/api/v1/builds/${target.build.id}${query}`, form, { token: target.runner.token, id: other.build.id, trace: `trace via ${form}` });
        assert.equal(reply.status, 200, `${form}: ${reply.text}`);
        assert.equal(await storedTrace(world.coordinator.db, target.build.id), `trace via ${form}`);
      }
      assert.equal(await storedTrace(world.coordinator.db, other.build.id), '');
    });

    test('the upload reads token and expire_in from its fields first, then the query string, then BUILD-TOKEN', async () => {
      const upload = async (running: RunningBuild, query: string, fields: Record<string, string>, headers: Record<string, string> = {}) => {
        const archive = await zipToBuffer({ 'a.txt': 'a\n' });
        const form = multipartBody([...Object.entries(fields).map(([name, value]) => ({ name, value })), { name: 'file', value: archive, filename: 'a.zip' }]);
        return runners.send('POST', `/ci/api/v1/builds/${running.build.id}/artifacts${query}`, form.body, { 'Content-Type': form.contentType, ...headers });
      };
      const running = await world.builds.start();
      const viaField = await upload(running, `?token=${WRONG_TOKEN}&expire_in=1+week`, { token: running.build.token, expire_in: '2 days' }, { 'BUILD-TOKEN': WRONG_TOKEN });
      assert.equal(viaField.status, 201, viaField.text);
      const expireAt = Date.parse((viaField.json as { artifacts_expire_at: string }).artifacts_expire_at);
      assert.ok(Math.abs(expireAt - Date.now() - 2 * 24 * 3600 * 1000) < 3600 * 1000, 'the field`s expire_in (2 days) wins over the query`s');
      const viaQuery = await upload(running, `?token=${running.build.token}`, {}, { 'BUILD-TOKEN': WRONG_TOKEN });
      assert.equal(viaQuery.status, 201, viaQuery.text);
      const fieldLoses = await upload(running, `?token=${running.build.token}`, { token: WRONG_TOKEN });
      assert.equal(fieldLoses.status, 403, fieldLoses.text);
    });
  });

  describe('form and query text is read as the schema types it', () => {
    async function registered(form: ParameterForm, parameters: Record<string, unknown>): Promise<RunnerDetails> {
      const reply = await call('POST', '/ci/api/v1/runners/register', form, { token: registrationToken, ...parameters });
      assert.equal(reply.status, 201, `${form} ${JSON.stringify(parameters)}: ${reply.text}`);
      return runnerDetails((reply.json as { id: number }).id);
    }

    test('booleans in the spellings Grape (Virtus) accepted, any case', async () => {
      const spellings: [string, boolean][] = [
        ['true', true], ['1', true], ['yes', true], ['on', true], ['t', true], ['y', true], ['TRUE', true], ['Yes', true],
        ['false', false], ['0', false], ['no', false], ['off', false], ['f', false], ['n', false], ['FALSE', false], ['Off', false],
      ];
      for (const form of ['urlencoded', 'multipart', 'query'] as const) {
        for (const [text, value] of spellings) {
          const details = await registered(form, { tag_list: 'x', run_untagged: text, locked: text });
          assert.deepEqual([details.run_untagged, details.locked], [value, value], `${form} ${text}`);
        }
      }
    });

    test('anything else is refused as a JSON body with the wrong type is, and nothing is stored', async () => {
      const count = async () => Number((await world.coordinator.db('runners').count({ n: '*' }))[0]?.n);
      const before = await count();
      for (const form of ['urlencoded', 'multipart', 'query'] as const) {
        for (const text of ['maybe', '', '2', 'truthy']) {
          const reply = await call('POST', '/ci/api/v1/runners/register', form, { token: registrationToken, run_untagged: text });
          assert.deepEqual([reply.status, reply.json], [400, { message: '400 Bad request - run_untagged must be boolean' }], `${form} ${JSON.stringify(text)}`);
        }
      }
      // A JSON body's types are the client's: the text "true" is not a boolean there.
      const json = await call('POST', '/ci/api/v1/runners/register', 'json', { token: registrationToken, run_untagged: 'true' });
      assert.deepEqual([json.status, json.json], [400, { message: '400 Bad request - run_untagged must be boolean' }]);
      assert.equal(await count(), before);
    });

    test('tag_list: comma-separated, `tag_list[]` repeated, or `tag_list` repeated', async () => {
      const cases: [ParameterForm, string][] = [
        ['urlencoded', 'tag_list=docker,linux'],
        ['urlencoded', 'tag_list=linux%2C+docker'],
        ['urlencoded', 'tag_list[]=docker&tag_list[]=linux'],
        ['urlencoded', 'tag_list=docker&tag_list=linux'],
        ['query', 'tag_list[]=linux&tag_list[]=docker'],
        ['query', 'tag_list=docker&tag_list=linux'],
      ];
      for (const [form, fields] of cases) {
        const encoded = `token=${registrationToken}&${fields}`;
        const reply =
          form === 'query'
            ? await runners.send('POST', `/ci/api/v1/runners/register?${encoded}`, undefined)
            : await runners.send('POST', '/ci/api/v1/runners/register', Buffer.from(encoded), { 'Content-Type': 'application/x-www-form-urlencoded' });
        assert.equal(reply.status, 201, `${form} ${fields}: ${reply.text}`);
        assert.deepEqual((await runnerDetails((reply.json as { id: number }).id)).tag_list, ['docker', 'linux'], `${form} ${fields}`);
      }
      const parts = multipartBody([{ name: 'token', value: registrationToken }, { name: 'tag_list[]', value: 'linux' }, { name: 'tag_list[]', value: 'docker' }]);
      const multipart = await runners.send('POST', '/ci/api/v1/runners/register', parts.body, { 'Content-Type': parts.contentType });
      assert.deepEqual((await runnerDetails((multipart.json as { id: number }).id)).tag_list, ['docker', 'linux']);
    });

    test('info[...] fields become the info object (unknown keys, nested ones too, are ignored)', async () => {
      for (const form of ['urlencoded', 'multipart', 'query'] as const) {
        const details = await registered(form, { info: { ...RUNNER_INFO, platform: `linux-${form}`, executor: 'shell', features: { cache: 'true' } } });
        assert.deepEqual([details.name, details.version, details.platform], ['gitlab-ci-multi-runner', '1.11.5', `linux-${form}`]);
      }
    });
  });
});
