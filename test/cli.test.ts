// The `coordinator` command (src/cli, package.json "bin") against a real server: every command,
// its --help, and `trace -f` following a job live while a simulated runner PATCHes its trace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';

const BIN = path.resolve('src/cli/bin.mjs');
const VIEWER_TOKEN = 'viewer-token-for-the-cli';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('coordinator CLI', () => {
  let world: BuildWorld;
  let env: Record<string, string>;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-cli-'));
  before(async () => {
    world = await startBuildWorld({ CI_VIEWER_TOKEN: VIEWER_TOKEN });
    env = { COORDINATOR_URL: world.coordinator.url, COORDINATOR_TOKEN: world.coordinator.adminToken };
  });
  after(async () => {
    await world.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  /** Runs the command as a user would, from another directory, with only the given environment. */
  const cli = (args: string[], extraEnv: Record<string, string> = env, input?: string): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [BIN, ...args], { cwd: workDir, env: { PATH: process.env.PATH ?? '', ...extraEnv }, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end(input ?? '');
    });
  const file = (name: string, text: string) => {
    const where = path.join(workDir, name);
    fs.writeFileSync(where, text);
    return where;
  };

  test('--help on the program and on every command', async () => {
    const top = await cli(['--help']);
    assert.equal(top.code, 0);
    for (const command of ['lint', 'pipeline', 'trace', 'runners', 'jobs']) assert.match(top.stdout, new RegExp(`^  ${command}\\b`, 'm'));
    assert.match(top.stdout, /COORDINATOR_URL/);
    for (const args of [['lint'], ['pipeline'], ['pipeline', 'create'], ['trace'], ['runners'], ['jobs']]) {
      const help = await cli([...args, '--help']);
      assert.equal(help.code, 0, args.join(' '));
      assert.match(help.stdout, new RegExp(`^Usage: coordinator ${args.join(' ')}`), help.stdout);
    }
    const unknown = await cli(['deploy']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /unknown command 'deploy'/);
  });

  test('lint: valid (exit 0) and invalid with the errors (exit 1), from a file or standard input', async () => {
    const valid = await cli(['lint', file('good.yml', 'build:\n  script: make\n')]);
    assert.deepEqual([valid.code, valid.stdout.trim()], [0, `${path.join(workDir, 'good.yml')} is valid`]);
    const invalid = await cli(['lint', '-'], env, 'build:\n  stage: nope\n  script: make\n');
    assert.equal(invalid.code, 1);
    assert.match(invalid.stdout, /^- is invalid\nerror: build job: stage parameter should be/);
    const json = await cli(['lint', '--json', file('good.yml', 'build:\n  script: make\n')]);
    assert.deepEqual(JSON.parse(json.stdout), { valid: true, errors: [], warnings: [] });
    const missing = await cli(['lint', path.join(workDir, 'nowhere.yml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nowhere\.yml/);
  });

  test('pipeline create with a file and variables; a refusal is its message and exit 1', async () => {
    const project = await world.api.createProject({ name: 'cli' });
    const sha = '97de212e80737a608d939f648d959671fb0a0142';
    const created = await cli(['pipeline', 'create', '-p', String(project.id), '-r', 'master', '-s', sha, '-f', file('ci.yml', 'rspec:\n  script: rspec\n'), '-v', 'DEPLOY_TO=staging', '-v', 'EMPTY=']);
    assert.equal(created.code, 0, created.stderr);
    const id = Number(/^pipeline #(\d+) pending \(master 97de212e\)$/.exec(created.stdout.trim())?.[1]);
    assert.ok(id > 0, created.stdout);
    const jobs = await world.api.listJobs(project.id, id);
    assert.deepEqual(jobs.map((job) => job.name), ['rspec']);

    const invalid = await cli(['pipeline', 'create', '-p', String(project.id), '-r', 'master', '-s', sha, '-f', file('bad.yml', 'rspec:\n  stage: nope\n')]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^error: 400 \(Bad request\) "ci_config" is invalid\n  rspec job: stage parameter should be/);
    const noSuchProject = await cli(['pipeline', 'create', '-p', '999999', '-r', 'master', '-s', sha]);
    assert.deepEqual([noSuchProject.code, noSuchProject.stderr], [1, 'error: 404 Not Found\n']);
    const noSha = await cli(['pipeline', 'create', '-p', String(project.id), '-r', 'master']);
    assert.equal(noSha.code, 2, 'not a git checkout: no sha to be found');
    assert.match(noSha.stderr, /no --sha given/);
    const badId = await cli(['pipeline', 'create', '-p', 'one', '-r', 'master', '-s', sha]);
    assert.notEqual(badId.code, 0);
    assert.match(badId.stderr, /must be a positive integer/);
  });

  test('runners and jobs list what the server has; the viewer token may list them', async () => {
    const { project, runner } = await world.builds.prepare('rspec:\n  script: rspec\n', 'cli-listed-runner');
    const build = await runner.requestBuild();
    assert.ok(build);
    const runners = await cli(['runners', '--scope', 'specific']);
    assert.equal(runners.code, 0, runners.stderr);
    assert.match(runners.stdout, /^ID\s+DESCRIPTION\s+STATUS\s+SHARED$/m);
    assert.match(runners.stdout, new RegExp(`^${runner.registration!.id as number}\\s+cli-listed-runner\\s+online\\s+specific$`, 'm'));
    const asJson = JSON.parse((await cli(['runners', '--json'])).stdout) as { id: number }[];
    assert.ok(asJson.some((item) => item.id === runner.registration!.id));
    assert.notEqual((await cli(['runners', '--scope', 'bogus'])).code, 0);

    const jobs = await cli(['jobs', '-p', String(project.id)], { ...env, COORDINATOR_TOKEN: VIEWER_TOKEN });
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.match(jobs.stdout, new RegExp(`^${build.id}\\s+rspec\\s+test\\s+running\\s+master\\s+${runner.registration!.id as number}$`, 'm'));
    const none = await cli(['jobs', '-p', String(project.id), '--status', 'success', 'failed']);
    assert.equal(none.stdout, 'ID  NAME  STAGE  STATUS  REF  RUNNER\n');
    assert.equal((await runner.putBuild(build.id, { state: 'success' })).status, 200);
  });

  test('trace prints a trace; trace -f follows it live until the job finishes', async () => {
    const running = await world.builds.start();
    const args = ['trace', String(running.build.id), '-p', String(running.projectId)];
    assert.equal((await running.runner.patchTrace(running.build.id, running.build.token, 0, 'first line\n')).status, 202);
    const once = await cli(args);
    assert.deepEqual([once.code, once.stdout], [0, 'first line\n']);

    const follower = spawn(process.execPath, [BIN, ...args, '-f'], { cwd: workDir, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const waiters: { text: string; resolve: () => void }[] = [];
    follower.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const waiter of waiters.filter((candidate) => stdout.includes(candidate.text))) waiter.resolve();
    });
    follower.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once('exit', resolve));
    const printed = (text: string) =>
      stdout.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ text, resolve }));
    try {
      await printed('first line\n');
      const second = '\x1b[32msecond line\x1b[0m\n';
      assert.equal((await running.runner.patchTrace(running.build.id, running.build.token, 11, second)).status, 202);
      await printed(second);
      assert.equal((await running.runner.putBuild(running.build.id, { state: 'failed' })).status, 200);
      assert.equal(await exited, 1, 'a failed job: exit 1');
      assert.equal(stdout, `first line\n${second}`, 'each byte once, colours untouched');
      assert.equal(stderr, `job ${running.build.id} failed\n`);
    } finally {
      follower.kill();
    }
  });

  test('without a token it says what to set', async () => {
    const run = await cli(['runners'], { COORDINATOR_URL: world.coordinator.url });
    assert.deepEqual([run.code, run.stderr], [2, 'error: set COORDINATOR_TOKEN (or CI_ADMIN_TOKEN) to the admin or viewer token\n']);
    const wrong = await cli(['runners'], { ...env, COORDINATOR_TOKEN: 'not-a-token' });
    assert.deepEqual([wrong.code, wrong.stderr], [1, 'error: 401 Unauthorized\n']);
  });
});
