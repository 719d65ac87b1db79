import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startProcess, waitUntilAnswering, type StartedProcess } from './support/processes.js';

const started: StartedProcess[] = [];
const dataDirs: string[] = [];

async function serve(env: Record<string, string>): Promise<{ process: StartedProcess; url: string }> {
  const port = await freePort();
  const server = startProcess('make', ['--no-print-directory', 'serve'], { HOST: '127.0.0.1', PORT: String(port), ...env });
  started.push(server);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(`${url}/api/v4/projects/1`, 60_000, server.output);
  return { process: server, url };
}

/** Waits (up to 10 s) until the process has written something that matches `pattern`. */
async function outputMatching(process: StartedProcess, pattern: RegExp): Promise<void> {
  for (let waited = 0; waited < 10_000 && !pattern.test(process.output()); waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function freshDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-serve-'));
  dataDirs.push(dir);
  return dir;
}

describe('make serve', () => {
  after(async () => {
    for (const server of started) await server.stop();
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('answers on PORT, generates missing tokens once, keeps them, and prints them only on first start', async () => {
    const dataDir = freshDataDir();
    const env = { DATA_DIR: dataDir, CI_REGISTRATION_TOKEN: '', CI_ADMIN_TOKEN: '' };
    const first = await serve(env);
    // The start-up lines go through pino-pretty's worker: they may follow the first answer.
    await outputMatching(first.process, /CI_ADMIN_TOKEN\): [0-9a-f]{30}/);
    const registration = /CI_REGISTRATION_TOKEN\): ([0-9a-f]{30})/.exec(first.process.output())?.[1];
    const admin = /CI_ADMIN_TOKEN\): ([0-9a-f]{30})/.exec(first.process.output())?.[1];
    assert.ok(registration && admin, first.process.output());
    assert.ok(fs.existsSync(path.join(dataDir, 'coordinator.sqlite3')));

    const unauthorized = await fetch(`${first.url}/api/v4/projects/1`);
    assert.equal(unauthorized.status, 401);
    const authorized = await fetch(`${first.url}/api/v4/projects/1`, { headers: { 'PRIVATE-TOKEN': admin } });
    assert.equal(authorized.status, 404);
    await first.process.stop();

    const second = await serve(env);
    assert.doesNotMatch(second.process.output(), /Generated/);
    const again = await fetch(`${second.url}/api/v4/projects/1`, { headers: { 'PRIVATE-TOKEN': admin } });
    assert.equal(again.status, 404, 'the kept admin token still works after a restart');
    const runner = await fetch(`${second.url}/ci/api/v1/runners/register.json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: registration }),
    });
    assert.equal(runner.status, 201, 'the kept registration token registers a runner');
    await second.process.stop();
  });

  test('tokens from the environment win and are not printed', async () => {
    const server = await serve({ DATA_DIR: freshDataDir(), CI_ADMIN_TOKEN: 'configured-admin-token', CI_REGISTRATION_TOKEN: 'configured-registration' });
    assert.doesNotMatch(server.process.output(), /Generated/);
    const reply = await fetch(`${server.url}/api/v4/projects/1`, { headers: { 'PRIVATE-TOKEN': 'configured-admin-token' } });
    assert.equal(reply.status, 404);
    await server.process.stop();
  });

  test('refuses a bad configuration with a clear message', async () => {
    const server = startProcess('node', ['--import', 'tsx', 'src/server.ts'], { PORT: 'eighty', DATA_DIR: freshDataDir() });
    started.push(server);
    const code = await new Promise<number | null>((resolve) => server.child.once('exit', (status) => resolve(status)));
    assert.equal(code, 1);
    assert.match(server.output(), /configuration error: PORT must be an integer/);
  });

  test('make mock answers on MOCK_PORT with the spec\'s example build', async () => {
    const port = await freePort();
    const mock = startProcess('make', ['--no-print-directory', 'mock', `MOCK_PORT=${port}`], {});
    started.push(mock);
    const url = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(`${url}/ci/api/v1/builds/register.json`, 60_000, mock.output);
    const reply = await fetch(`${url}/ci/api/v1/builds/register.json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token: 'any' }),
    });
    assert.equal(reply.status, 201);
    assert.equal(reply.headers.get('content-type'), 'application/json');
    const build = (await reply.json()) as { variables: { key: string; value: string }[] };
    assert.ok(build.variables.some((v) => v.key === 'GIT_STRATEGY' && v.value === 'none'));
    await mock.stop();
  });
});
