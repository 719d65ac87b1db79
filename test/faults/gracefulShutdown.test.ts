// Issue 9: SIGTERM is a graceful shutdown of the real server process (src/server.ts): it stops
// accepting connections, answers a held long poll with "no build", ends a live trace stream,
// lets a request in flight finish (its bytes stored), and exits 0 within SHUTDOWN_TIMEOUT_SECONDS;
// a request that never finishes is cut at that bound and the process still exits.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServerProcess, type ServerProcess as StartedServer } from '../support/processes.js';
import { rawExchange } from '../support/rawHttp.js';
import { RunnerSimulator } from '../support/runnerSimulator.js';
import { openEventStream } from '../support/sse.js';
import { UserApi } from '../support/userApi.js';

const ADMIN_TOKEN = 'admin-token-for-the-shutdown-test';
const REGISTRATION_TOKEN = 'registration-token-for-the-shutdown-test';

interface ServerProcess extends StartedServer {
  dataDir: string;
}

async function startServer(dataDir: string, env: Record<string, string>): Promise<ServerProcess> {
  const started = await startServerProcess({
    DATA_DIR: dataDir,
    CI_ADMIN_TOKEN: ADMIN_TOKEN,
    CI_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
    HOUSEKEEPING_INTERVAL_SECONDS: '0',
    LOG_LEVEL: 'warn',
    ...env,
  });
  return { ...started, dataDir };
}

/** Sends SIGTERM and resolves with the exit code and how long the exit took. */
async function terminate(server: ServerProcess): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const exited = once(server.process.child, 'exit') as Promise<[number | null]>;
  server.process.child.kill('SIGTERM');
  const [code] = await exited;
  return { code, ms: Date.now() - started };
}

describe('SIGTERM: graceful shutdown of the server process', () => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) await server.process.stop();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  const freshDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-shutdown-'));
    dirs.push(dir);
    return dir;
  };

  test('long poll answered "no build", trace stream ended, request in flight finished, exit 0 within the bound', async () => {
    const server = await startServer(freshDir(), { CI_LONG_POLL_SECONDS: '20', SHUTDOWN_TIMEOUT_SECONDS: '8' });
    servers.push(server);
    const api = new UserApi(server.url, ADMIN_TOKEN);
    const project = await api.createProject({ ci_config: 'rspec:\n  script: rspec\n' });
    await api.createPipeline(project.id, { ci_config: 'rspec:\n  script: rspec\n' });
    const worker = await RunnerSimulator.register(server.url, project.runners_token, { runUntagged: true });
    const idle = await RunnerSimulator.register(server.url, REGISTRATION_TOKEN, { runUntagged: true, tagList: ['nothing-has-this'] });
    const build = await worker.requestBuild();
    assert.ok(build);

    // Held: this runner may take nothing, so its poll waits up to 20 s.
    const pollStarted = Date.now();
    const held = idle.requestBuild();
    const stream = await openEventStream(`${server.url}/api/v4/projects/${project.id}/jobs/${build.id}/trace/stream`, { 'PRIVATE-TOKEN': ADMIN_TOKEN });
    assert.equal(stream.status, 200);
    // In flight: a trace PATCH whose body trickles in over 1.5 s.
    const chunk = 'written while the server shut down\n';
    const inFlight = rawExchange(server.url, {
      head: `PATCH /ci/api/v1/builds/${build.id}/trace.txt HTTP/1.1\r\nHost: x\r\nBuild-Token: ${build.token}\r\nContent-Range: 0-${chunk.length}\r\nContent-Length: ${chunk.length}`,
      body: [chunk.slice(0, 5), 500, chunk.slice(5, 15), 1000, chunk.slice(15)],
      timeoutMs: 20_000,
    });
    await sleep(300);

    const exit = terminate(server);
    assert.equal(await held, null, 'the held poll is answered "no build"');
    assert.ok(Date.now() - pollStarted < 5000, 'at once, not after the long poll ran out');
    await sleep(200);
    // A new connection (fetch would reuse a kept-alive one).
    await assert.rejects(rawExchange(server.url, { head: 'GET /-/liveness HTTP/1.1\r\nHost: x', timeoutMs: 2000 }), 'no new connection is accepted');
    const patched = await inFlight;
    assert.equal(patched.status, 202, patched.body.toString());
    assert.equal(patched.headers['range'], `0-${chunk.length}`);
    assert.equal(patched.headers['connection'], 'close');
    for (let event = await stream.next(5000); event; event = await stream.next(5000)) {
      // Events until the server ends the stream; the loop ends when it does.
    }
    const { code, ms } = await exit;
    assert.equal(code, 0, server.process.output());
    assert.ok(ms < 8000, `exited after ${ms} ms`);
    worker.close();
    idle.close();

    // What the finished request stored is there after a restart.
    const again = await startServer(server.dataDir, { CI_LONG_POLL_SECONDS: '0' });
    servers.push(again);
    const trace = await new UserApi(again.url, ADMIN_TOKEN).request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/trace`);
    assert.equal(trace.text, chunk);
    await again.process.stop();
  });

  test('a request that never finishes is cut at SHUTDOWN_TIMEOUT_SECONDS, and the process exits', async () => {
    const server = await startServer(freshDir(), { CI_LONG_POLL_SECONDS: '0', SHUTDOWN_TIMEOUT_SECONDS: '2' });
    servers.push(server);
    const endless = rawExchange(server.url, {
      head: `POST /ci/api/v1/runners/register.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000`,
      body: ['{"token":', 60_000],
      timeoutMs: 20_000,
    }).catch((err: Error) => err);
    await sleep(300);
    const { code, ms } = await terminate(server);
    assert.ok(ms >= 1500 && ms < 4500, `exited after ${ms} ms`);
    assert.equal(code, 0, server.process.output());
    await endless;
  });
});
