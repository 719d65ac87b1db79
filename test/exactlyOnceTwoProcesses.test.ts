// Issue 7's acceptance: two real server processes on one PostgreSQL (and one DATA_DIR), 100
// runners polling them (half each) for 5,000 queued builds: every build is handed out exactly
// once, and every one of them is handed out.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, onlyOnPostgres, type TestDatabase } from './support/database.js';
import { startServerProcesses, type StartedProcess } from './support/processes.js';
import { factoryJob, RunnerApi } from './support/runnerApi.js';
import { UserApi } from './support/userApi.js';

const RUNNERS = 100;
const PIPELINES = 100;
const JOBS_PER_PIPELINE = 50;
const TOTAL = PIPELINES * JOBS_PER_PIPELINE;
const ADMIN = 'admin-token-of-both-processes';
const REGISTRATION = 'registration-token-of-both-processes';

let dataDir: string;
let database: TestDatabase | undefined;
const servers: StartedProcess[] = [];
const urls: string[] = [];

before(async () => {
  if (onlyOnPostgres('')) return;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-exactly-once-'));
  database = await createTestDatabase(dataDir);
  const started = await startServerProcesses(2, {
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    CI_ADMIN_TOKEN: ADMIN,
    CI_REGISTRATION_TOKEN: REGISTRATION,
    CI_LONG_POLL_SECONDS: '0',
  });
  servers.push(...started.servers);
  urls.push(...started.urls);
});

after(async () => {
  for (const server of servers) await server.stop();
  await database?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test(`two server processes, ${RUNNERS} runners, ${TOTAL} builds: each handed out exactly once`, { skip: onlyOnPostgres('two processes on one database are a PostgreSQL set-up'), timeout: 600_000 }, async () => {
  const api = new UserApi(urls[0]!, ADMIN);
  const ciConfig = Array.from({ length: JOBS_PER_PIPELINE }, (_, i) => factoryJob(`job${i}`)).join('');
  const project = await api.createProject({ name: 'many builds' });
  for (let p = 0; p < PIPELINES; p++) await api.createPipeline(project.id, { ci_config: ciConfig });

  const runners = await Promise.all(
    Array.from({ length: RUNNERS }, async (_, i) => {
      const client = new RunnerApi(urls[i % 2]!);
      return { client, token: (await client.registerRunner({ token: REGISTRATION, description: `runner-${i}` })).token };
    }),
  );
  const handedOut: { build: number; runner: number }[] = [];
  const failures: string[] = [];
  await Promise.all(
    runners.map(async ({ client, token }, runner) => {
      // A runner stops after a few empty answers in a row once every build is out.
      for (let empty = 0; empty < 5 && failures.length === 0; ) {
        const reply = await client.requestBuild(token);
        if (reply.status === 201) {
          empty = 0;
          const build = reply.json as { id: number };
          handedOut.push({ build: build.id, runner });
          const done = await client.updateBuild(build.id, { token, state: 'success' });
          if (done.status !== 200) failures.push(`PUT ${build.id}: ${done.status} ${done.text}`);
        } else if (reply.status === 204) {
          if (handedOut.length >= TOTAL) empty++;
          else await new Promise((resolve) => setTimeout(resolve, 20));
        } else {
          failures.push(`register: ${reply.status} ${reply.text}`);
        }
      }
    }),
  );
  assert.deepEqual(failures, []);
  const ids = handedOut.map((h) => h.build);
  assert.equal(new Set(ids).size, ids.length, 'no build handed out twice');
  assert.equal(ids.length, TOTAL, 'every build handed out');
  const perServer = [0, 1].map((s) => handedOut.filter((h) => h.runner % 2 === s).length);
  assert.ok(perServer.every((n) => n > 0), `both processes handed out builds: ${perServer.join(', ')}`);
});
