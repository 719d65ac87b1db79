// Issue 6, bad input: malformed urlencoded and multipart bodies on every runner endpoint that
// reads a form (no boundary, a boundary that never closes, a field over the limit, thousands of
// fields, a duplicate token, a file part, a body over MAX_BODY_SIZE_MB) get a 4xx with a JSON
// message, never a 500, and change nothing: each carries valid credentials, so a lenient parser
// would register, assign, finish or delete something the snapshot would show.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { formFields, multipartBody, type FormField } from './support/parameterForms.js';
import { RUNNER_UA, RunnerApi, storedTrace } from './support/runnerApi.js';
import { startBuildWorld, type BuildWorld, type RunningBuild } from './support/runningBuilds.js';
import { zipToBuffer } from './support/zip.js';

const MIB = 1024 * 1024;
const FIELD_LIMIT = 64 * 1024;

interface Reply {
  status: number;
  contentType: string | undefined;
  text: string;
}

interface BrokenBody {
  label: string;
  status: number;
  message: RegExp;
  /** Over 64 KiB as a whole: the endpoints with the small body limit refuse it for its size first (issue 9). */
  overSmallLimit?: true;
  /** The request for fields that would otherwise be accepted. */
  build(fields: FormField[]): { query?: string; headers: Record<string, string>; chunks: Buffer[]; chunked?: boolean };
}

const urlencoded = (fields: FormField[]) => Buffer.from(new URLSearchParams(fields).toString());
const URLENCODED = { 'Content-Type': 'application/x-www-form-urlencoded' };
const textParts = (fields: FormField[]) => fields.map(([name, value]) => ({ name, value }));
const BOUNDARY = '------------------------d74496d66958873e';
const MULTIPART = { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` };
const multipart = (fields: FormField[]) => multipartBody(textParts(fields), BOUNDARY).body;
/** The parts with their last boundary line cut off: a body that never closes. */
const unclosed = (fields: FormField[]) => {
  const body = multipart(fields);
  return body.subarray(0, body.length - `--${BOUNDARY}--\r\n`.length);
};
const manyFields = (count: number): FormField[] => Array.from({ length: count }, (_, i) => [`field${i}`, 'x']);

const BROKEN_BODIES: BrokenBody[] = [
  { label: 'multipart without a boundary', status: 400, message: /Boundary not found/, build: (f) => ({ headers: { 'Content-Type': 'multipart/form-data' }, chunks: [urlencoded(f)] }) },
  { label: 'multipart whose boundary never closes', status: 400, message: /Unexpected end of form/, build: (f) => ({ headers: MULTIPART, chunks: [unclosed(f)] }) },
  { label: 'multipart whose boundary never closes, chunked', status: 400, message: /Unexpected end of form/, build: (f) => ({ headers: MULTIPART, chunks: [unclosed(f)], chunked: true }) },
  { label: 'multipart that is not multipart at all', status: 400, message: /^400 Bad request - /, build: (f) => ({ headers: MULTIPART, chunks: [urlencoded(f)] }) },
  { label: 'a multipart field over the limit', status: 400, overSmallLimit: true, message: /a form field is too long/, build: (f) => ({ headers: MULTIPART, chunks: [multipart([...f, ['note', 'x'.repeat(FIELD_LIMIT + 1)]])] }) },
  { label: 'a urlencoded field over the limit', status: 400, overSmallLimit: true, message: /a form field is too long/, build: (f) => ({ headers: URLENCODED, chunks: [urlencoded([...f, ['note', 'x'.repeat(FIELD_LIMIT + 1)]])] }) },
  { label: 'a field name over the limit', status: 400, message: /a form field is too long/, build: (f) => ({ headers: URLENCODED, chunks: [urlencoded([...f, ['n'.repeat(300), 'x']])] }) },
  { label: 'thousands of urlencoded fields', status: 400, message: /too many form fields/, build: (f) => ({ headers: URLENCODED, chunks: [urlencoded([...f, ...manyFields(5000)])] }) },
  { label: 'thousands of multipart fields', status: 400, overSmallLimit: true, message: /too many form fields/, build: (f) => ({ headers: MULTIPART, chunks: [multipart([...f, ...manyFields(5000)])] }) },
  { label: 'thousands of `&` and nothing else', status: 400, message: /too many form fields/, build: (f) => ({ headers: URLENCODED, chunks: [Buffer.concat([urlencoded(f), Buffer.from('&'.repeat(20000))])] }) },
  { label: 'hundreds of query parameters', status: 400, message: /too many form fields/, build: (f) => ({ query: new URLSearchParams(manyFields(300)).toString(), headers: URLENCODED, chunks: [urlencoded(f)] }) },
  { label: 'a urlencoded duplicate token', status: 400, message: /token is given more than once/, build: (f) => ({ headers: URLENCODED, chunks: [urlencoded([...f, f[0]!])] }) },
  { label: 'a multipart duplicate token', status: 400, message: /token is given more than once/, build: (f) => ({ headers: MULTIPART, chunks: [multipart([...f, f[0]!])] }) },
  { label: 'a duplicate token in the query string', status: 400, message: /token is given more than once/, build: (f) => ({ query: new URLSearchParams([f[0]!, f[0]!]).toString(), headers: {}, chunks: [] }) },
  { label: 'a file part', status: 400, message: /upload is a file: only text fields are accepted/, build: (f) => ({ headers: MULTIPART, chunks: [multipartBody([...textParts(f), { name: 'upload', value: 'PK\u0005\u0006', filename: 'a.zip' }], BOUNDARY).body] }) },
  { label: 'the token as a file part', status: 400, message: /token is a file/, build: (f) => ({ headers: MULTIPART, chunks: [multipartBody([{ name: 'token', value: f[0]![1], filename: 'token.txt' }, ...textParts(f.slice(1))], BOUNDARY).body] }) },
  { label: 'a field name nested too deeply', status: 400, message: /nested too deeply/, build: (f) => ({ headers: URLENCODED, chunks: [urlencoded([...f, ['info[a][b][c][d][e][f][g]', '1']])] }) },
  { label: 'a token that is an array', status: 400, message: /token must be string/, build: (f) => ({ headers: URLENCODED, chunks: [urlencoded([[`${f[0]![0]}[]`, f[0]![1]], ...f.slice(1)])] }) },
  { label: 'a token that is an object', status: 400, message: /token must be string/, build: (f) => ({ headers: MULTIPART, chunks: [multipart([[`${f[0]![0]}[x]`, f[0]![1]], ...f.slice(1)])] }) },
  { label: 'a urlencoded body over MAX_BODY_SIZE_MB', status: 413, message: /^413 Request Entity Too Large$/, build: (f) => ({ headers: URLENCODED, chunks: [urlencoded([...f, ['trace', 'x'.repeat(MIB + 1024)]])] }) },
  { label: 'a multipart body over MAX_BODY_SIZE_MB', status: 413, message: /^413 Request Entity Too Large$/, build: (f) => ({ headers: MULTIPART, chunks: [multipart([...f, ['trace', 'x'.repeat(MIB + 1024)]])] }) },
  {
    label: 'a chunked multipart body over MAX_BODY_SIZE_MB',
    status: 413,
    message: /^413 Request Entity Too Large$/,
    // A `trace` part that keeps growing, with no Content-Length to refuse up front.
    build: (f) => ({
      headers: MULTIPART,
      chunks: [unclosed(f), Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="trace"\r\n\r\n`), ...Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, 'x'))],
      chunked: true,
    }),
  },
  { label: 'a text/plain body', status: 415, message: /^415 Unsupported Media Type/, build: (f) => ({ headers: { 'Content-Type': 'text/plain' }, chunks: [urlencoded(f)] }) },
  { label: 'a form without a Content-Type (read as JSON)', status: 400, message: /not valid JSON/, build: (f) => ({ headers: {}, chunks: [urlencoded(f)] }) },
];

describe('malformed form bodies on the runner endpoints', () => {
  let world: BuildWorld;
  let runners: RunnerApi;
  let running: RunningBuild;
  let pendingId: number;
  before(async () => {
    world = await startBuildWorld({ MAX_BODY_SIZE_MB: '1' });
    runners = new RunnerApi(world.coordinator.url);
    // Two jobs: the runner runs one, the other stays pending for a register that must not happen.
    running = await world.builds.start('rspec:\n  script: rspec\nspinach:\n  script: spinach\n');
    const archive = await zipToBuffer({ 'a.txt': 'kept\n' });
    const form = multipartBody([{ name: 'file', value: archive, filename: 'a.zip' }]);
    const upload = await runners.send('POST', `/ci/api/v1/builds/${running.build.id}/artifacts`, form.body, { 'Content-Type': form.contentType, 'BUILD-TOKEN': running.build.token });
    assert.equal(upload.status, 201, upload.text);
    const pending = await world.coordinator.db('builds').where({ project_id: running.projectId, status: 'pending' }).first();
    pendingId = pending.id;
  });
  after(() => world.stop());

  /** Every endpoint that reads a form, with parameters it would accept (the token first). */
  const targets = (): { label: string; method: string; path: string; fields: FormField[] }[] => [
    { label: 'builds/register', method: 'POST', path: '/ci/api/v1/builds/register', fields: formFields({ token: running.runner.token, info: { version: '9.9.9' } }) },
    { label: 'PUT builds/:id', method: 'PUT', path: `/ci/api/v1/builds/${running.build.id}`, fields: formFields({ token: running.runner.token, state: 'failed', trace: 'replaced' }) },
    { label: 'DELETE artifacts', method: 'DELETE', path: `/ci/api/v1/builds/${running.build.id}/artifacts`, fields: formFields({ token: running.build.token }) },
    { label: 'runners/register', method: 'POST', path: '/ci/api/v1/runners/register', fields: formFields({ token: world.coordinator.registrationToken, run_untagged: 'true' }) },
    { label: 'runners/delete', method: 'DELETE', path: '/ci/api/v1/runners/delete.json', fields: formFields({ token: running.runner.token }) },
  ];

  /** What a request that got through would have changed. */
  async function snapshot() {
    const db = world.coordinator.db;
    const build = await db('builds').where({ id: running.build.id }).first();
    const download = await runners.send('GET', `/ci/api/v1/builds/${running.build.id}/artifacts`, undefined, { 'BUILD-TOKEN': running.build.token });
    return {
      runners: (await db('runners').select('id', 'version').orderBy('id')) as unknown[],
      running: [build.status, ((await db('job_artifacts').where({ build_id: running.build.id })) as unknown[]).length, await storedTrace(db, running.build.id)],
      pending: (await db('builds').where({ id: pendingId }).first()).status as string,
      download: [download.status, download.body.length],
    };
  }

  function send(method: string, path: string, request: ReturnType<BrokenBody['build']>): Promise<Reply> {
    const body = Buffer.concat(request.chunks);
    const headers: Record<string, string> = { 'User-Agent': RUNNER_UA, ...request.headers };
    if (request.chunked) headers['Transfer-Encoding'] = 'chunked';
    else if (request.chunks.length > 0) headers['Content-Length'] = String(body.length);
    const url = new URL(request.query ? `${path}?${request.query}` : path, world.coordinator.url);
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = http.request(url, { method, headers, agent: false }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      // A refused body is not read to its end: the server answers and closes while we may still write.
      req.on('error', (err) => (answered ? undefined : reject(err)));
      if (request.chunked) {
        for (const chunk of request.chunks) req.write(chunk);
        req.end();
      } else req.end(body);
    });
  }

  for (const broken of BROKEN_BODIES) {
    test(`${broken.label}: ${broken.status} with a JSON message on every endpoint, nothing changed`, async () => {
      const before = await snapshot();
      for (const target of targets()) {
        const reply = await send(target.method, target.path, broken.build(target.fields));
        const what = `${target.label}: ${reply.status} ${reply.text.slice(0, 200)}`;
        // Only PUT builds/:id has the large body limit (its trace); the others refuse a body over 64 KiB with 413.
        const [status, message] = broken.overSmallLimit && target.label !== 'PUT builds/:id' ? [413, /^413 Request Entity Too Large$/] : [broken.status, broken.message];
        assert.equal(reply.status, status, what);
        assert.equal(reply.contentType, 'application/json', what);
        assert.match((JSON.parse(reply.text) as { message: string }).message, message, what);
      }
      assert.deepEqual(await snapshot(), before);
    });
  }

  test('the same fields, well formed, do go through (the broken bodies were refused for their flaw)', async () => {
    for (const target of targets().filter((t) => t.label === 'runners/register' || t.label === 'DELETE artifacts')) {
      for (const encode of [(f: FormField[]) => ({ headers: URLENCODED, chunks: [urlencoded(f)] }), (f: FormField[]) => ({ headers: MULTIPART, chunks: [multipart(f)] })]) {
        const reply = await send(target.method, target.path, encode(target.fields));
        assert.ok(reply.status === 200 || reply.status === 201, `${target.label}: ${reply.status} ${reply.text}`);
      }
    }
  });
});
