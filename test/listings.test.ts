// A project's pipelines and jobs, newest first, paginated with GitLab's headers, black-box through a real server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { components } from '../src/generated/api.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi, type ApiReply } from './support/userApi.js';

type Schemas = components['schemas'];

const TWO_JOBS = 'unit:\n  script: make test\nlint:\n  script: make lint\n';
const PAGINATION_HEADERS = ['x-total', 'x-total-pages', 'x-per-page', 'x-page', 'x-next-page', 'x-prev-page'];

describe('user API: paginated listings', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let projectId = 0;
  /** Pipeline ids in creation order: refs master, feature, master, feature, master; the second is canceled. */
  let pipelineIds: number[] = [];

  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
    const other = await api.createProject({ name: 'other' });
    await api.createPipeline(other.id, { ci_config: TWO_JOBS });
    projectId = (await api.createProject({ name: 'listed' })).id;
    for (const ref of ['master', 'feature', 'master', 'feature', 'master']) {
      pipelineIds.push((await api.createPipeline(projectId, { ref, ci_config: TWO_JOBS })).id);
    }
    const canceled = await api.request('POST', `/api/v4/projects/${projectId}/pipelines/${pipelineIds[1]}/cancel`);
    assert.equal(canceled.status, 200);
    await api.createPipeline(other.id, { ci_config: TWO_JOBS });
  });
  after(() => coordinator.stop());

  const newestFirst = (ids: number[]) => [...ids].sort((a, b) => b - a);
  const headersOf = (reply: ApiReply<unknown>) => Object.fromEntries(PAGINATION_HEADERS.map((name) => [name, reply.headers.get(name)]));
  const base = () => `${coordinator.url}/api/v4/projects/${projectId}`;
  const link = (path: string, query: string, rel: string) => `<${coordinator.url}${path}?${query}>; rel="${rel}"`;

  describe('pipelines', () => {
    const list = (query = '') => api.request<Schemas['Pipeline'][]>('GET', `/api/v4/projects/${projectId}/pipelines${query}`);
    const path = () => `/api/v4/projects/${projectId}/pipelines`;

    test('newest first, 20 per page by default, with GitLab\'s headers', async () => {
      const reply = await list();
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body.map((p) => p.id), newestFirst(pipelineIds));
      assert.deepEqual(Object.keys(reply.body[0]!).sort(), ['before_sha', 'created_at', 'id', 'project_id', 'ref', 'sha', 'status', 'tag']);
      assert.deepEqual(headersOf(reply), {
        'x-total': '5', 'x-total-pages': '1', 'x-per-page': '20', 'x-page': '1', 'x-next-page': '', 'x-prev-page': '',
      });
      assert.equal(reply.headers.get('link'), [
        link(path(), 'page=1&per_page=20', 'first'),
        link(path(), 'page=1&per_page=20', 'last'),
      ].join(', '));
    });

    test('a middle page has a previous and a next page', async () => {
      const reply = await list('?per_page=2&page=2');
      assert.deepEqual(reply.body.map((p) => p.id), newestFirst(pipelineIds).slice(2, 4));
      assert.deepEqual(headersOf(reply), {
        'x-total': '5', 'x-total-pages': '3', 'x-per-page': '2', 'x-page': '2', 'x-next-page': '3', 'x-prev-page': '1',
      });
      assert.equal(reply.headers.get('link'), [
        link(path(), 'page=1&per_page=2', 'prev'),
        link(path(), 'page=3&per_page=2', 'next'),
        link(path(), 'page=1&per_page=2', 'first'),
        link(path(), 'page=3&per_page=2', 'last'),
      ].join(', '));
    });

    test('the last page has no next page; the links keep the filters', async () => {
      const reply = await list('?ref=master&page=2&per_page=2');
      const masters = newestFirst([pipelineIds[0]!, pipelineIds[2]!, pipelineIds[4]!]);
      assert.deepEqual(reply.body.map((p) => p.id), masters.slice(2));
      assert.deepEqual(headersOf(reply), {
        'x-total': '3', 'x-total-pages': '2', 'x-per-page': '2', 'x-page': '2', 'x-next-page': '', 'x-prev-page': '1',
      });
      assert.equal(reply.headers.get('link'), [
        link(path(), 'page=1&per_page=2&ref=master', 'prev'),
        link(path(), 'page=1&per_page=2&ref=master', 'first'),
        link(path(), 'page=2&per_page=2&ref=master', 'last'),
      ].join(', '));
    });

    test('filters by status and by ref', async () => {
      assert.deepEqual((await list('?status=canceled')).body.map((p) => p.id), [pipelineIds[1]]);
      assert.deepEqual((await list('?status=pending&ref=feature')).body.map((p) => p.id), [pipelineIds[3]]);
      assert.deepEqual((await list('?ref=feature')).body.map((p) => p.ref), ['feature', 'feature']);
      const none = await list('?ref=nowhere');
      assert.deepEqual(none.body, []);
      assert.equal(none.headers.get('x-total'), '0');
    });

    test('a page past the end is empty, with the totals and links to the first and last pages', async () => {
      const reply = await list('?page=9&per_page=2');
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body, []);
      assert.deepEqual(headersOf(reply), {
        'x-total': '5', 'x-total-pages': '3', 'x-per-page': '2', 'x-page': '9', 'x-next-page': '', 'x-prev-page': '',
      });
      assert.equal(reply.headers.get('link'), [link(path(), 'page=1&per_page=2', 'first'), link(path(), 'page=3&per_page=2', 'last')].join(', '));
    });

    test('a project without pipelines has one empty page', async () => {
      const empty = await api.createProject({ name: 'empty' });
      const reply = await api.request<unknown[]>('GET', `/api/v4/projects/${empty.id}/pipelines`);
      assert.deepEqual(reply.body, []);
      assert.equal(reply.headers.get('x-total'), '0');
      assert.equal(reply.headers.get('x-total-pages'), '1');
      const emptyPath = `/api/v4/projects/${empty.id}/pipelines`;
      assert.equal(reply.headers.get('link'), [link(emptyPath, 'page=1&per_page=20', 'first'), link(emptyPath, 'page=1&per_page=20', 'last')].join(', '));
    });

    test('bad paging or filters answer 400, an unknown project 404', async () => {
      for (const query of ['?per_page=101', '?per_page=0', '?page=0', '?page=abc', '?status=bogus']) {
        const reply = await list(query);
        assert.equal(reply.status, 400, query);
        assert.match((reply.body as unknown as { message: string }).message, /^400 /);
      }
      const unknown = await api.request('GET', '/api/v4/projects/999999/pipelines');
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.body, { message: '404 Not Found' });
    });
  });

  describe('jobs', () => {
    const list = (query = '') => api.request<Schemas['Job'][]>('GET', `/api/v4/projects/${projectId}/jobs${query}`);
    const path = () => `/api/v4/projects/${projectId}/jobs`;
    let jobIds: number[] = [];

    before(async () => {
      jobIds = [];
      for (const id of pipelineIds) jobIds.push(...(await api.listJobs(projectId, id)).map((job) => job.id));
    });

    test('newest first across the project\'s pipelines, with the job shape', async () => {
      const reply = await list();
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body.map((job) => job.id), newestFirst(jobIds));
      assert.equal(reply.body[0]!.name, 'lint');
      assert.equal(reply.body[0]!.runner, null);
      assert.equal(reply.headers.get('x-total'), '10');
      assert.ok(reply.headers.get('link')?.startsWith(`<${base()}/jobs?page=1&per_page=20>; rel="first"`));
    });

    test('scope[] keeps only jobs in those statuses, one or several', async () => {
      const canceled = await list('?scope[]=canceled');
      assert.equal(canceled.status, 200, canceled.text);
      assert.deepEqual(canceled.body.map((job) => job.status), ['canceled', 'canceled']);
      const pending = await list('?scope[]=pending');
      assert.equal(pending.body.length, 8);
      const both = await list('?scope[]=canceled&scope[]=success');
      assert.equal(both.body.length, 2);
    });

    test('paginated like pipelines, the scope kept in the links', async () => {
      const reply = await list('?scope[]=pending&scope[]=canceled&per_page=3&page=2');
      assert.deepEqual(reply.body.map((job) => job.id), newestFirst(jobIds).slice(3, 6));
      assert.deepEqual(headersOf(reply), {
        'x-total': '10', 'x-total-pages': '4', 'x-per-page': '3', 'x-page': '2', 'x-next-page': '3', 'x-prev-page': '1',
      });
      const query = (page: number) => `page=${page}&per_page=3&scope%5B%5D=pending&scope%5B%5D=canceled`;
      assert.equal(reply.headers.get('link'), [
        link(path(), query(1), 'prev'),
        link(path(), query(3), 'next'),
        link(path(), query(1), 'first'),
        link(path(), query(4), 'last'),
      ].join(', '));
    });

    test('an unknown status in scope[] answers 400, an unknown project 404', async () => {
      const reply = await list('?scope[]=bogus');
      assert.equal(reply.status, 400);
      assert.equal((await api.request('GET', '/api/v4/projects/999999/jobs')).status, 404);
    });
  });
});
