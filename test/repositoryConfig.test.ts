// Pipelines whose .gitlab-ci.yml comes from a real git repository on this machine: a
// working copy and a bare clone made by the test with `git init`, `git commit` and
// `git clone --bare`, reached by absolute path and by file:// URL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { components } from '../src/generated/api.js';
import { resolveRef, RepositoryReadError } from '../src/domain/repositoryConfig.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';

type Schemas = components['schemas'];

const REPO_CONFIG = 'stages: [build, test]\ncompile:\n  stage: build\n  script: make\nrspec:\n  script: rspec\n';
const UNKNOWN_SHA = '1234567890abcdef1234567890abcdef12345678';

/** A scratch repository: commits made here have fixed authors and dates, whatever the machine's git config. */
class ScratchRepository {
  constructor(readonly dir: string) {}

  static create(dir: string): ScratchRepository {
    fs.mkdirSync(dir, { recursive: true });
    const repo = new ScratchRepository(dir);
    repo.git('init', '--quiet', '--initial-branch=master');
    return repo;
  }

  git(...args: string[]): string {
    return execFileSync('git', args, {
      cwd: this.dir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        HOME: this.dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: 'Test',
        GIT_AUTHOR_EMAIL: 'test@example.com',
        GIT_COMMITTER_NAME: 'Test',
        GIT_COMMITTER_EMAIL: 'test@example.com',
        GIT_AUTHOR_DATE: '2016-12-23T12:00:00Z',
        GIT_COMMITTER_DATE: '2016-12-23T12:00:00Z',
      },
    }).trim();
  }

  /** Commits the given files (null removes one) and answers the new commit's sha. */
  commit(message: string, files: Record<string, string | null>): string {
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(this.dir, name);
      if (content === null) fs.rmSync(file);
      else fs.writeFileSync(file, content);
    }
    this.git('add', '--all');
    this.git('commit', '--quiet', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }
}

describe('pipelines read .gitlab-ci.yml from the repository', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let scratch: string;
  let workingCopy: string;
  let bare: string;
  let withConfig: string;
  let withoutConfig: string;
  let invalidConfig: string;

  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'repository-config-test-'));
    // A space in the path: it must survive as one argument and as %20 in a file:// URL.
    const repo = ScratchRepository.create(path.join(scratch, 'work tree'));
    workingCopy = repo.dir;
    withoutConfig = repo.commit('no config yet', { 'README.md': '# project\n' });
    withConfig = repo.commit('add .gitlab-ci.yml', { '.gitlab-ci.yml': REPO_CONFIG });
    invalidConfig = repo.commit('break it', { '.gitlab-ci.yml': 'rspec:\n  stage: nope\n  script: rspec\n' });
    repo.git('checkout', '--quiet', '-b', 'feature', withConfig);
    repo.git('tag', '-a', '-m', 'release', 'v1.0', withConfig);
    bare = path.join(scratch, 'bare.git');
    execFileSync('git', ['clone', '--quiet', '--bare', workingCopy, bare]);
  });

  after(async () => {
    await coordinator.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function projectAt(repoUrl: string, ciConfig?: string): Promise<Schemas['Project']> {
    return api.createProject({ repo_url: repoUrl, ...(ciConfig === undefined ? {} : { ci_config: ciConfig }) });
  }

  function createPipeline(projectId: number, fields: Partial<Schemas['NewPipeline']>) {
    return api.request<Schemas['Pipeline'] & { message: string; errors: string[] }>('POST', `/api/v4/projects/${projectId}/pipeline`, {
      ref: 'master',
      ...fields,
    });
  }

  async function assertPipelineFromRepository(repoUrl: string): Promise<void> {
    const project = await projectAt(repoUrl);
    const reply = await createPipeline(project.id, { sha: withConfig });
    assert.equal(reply.status, 201, `${repoUrl}: ${reply.text}`);
    assert.equal(reply.body.sha, withConfig);
    assert.equal(reply.body.status, 'pending');
    const jobs = await api.listJobs(project.id, reply.body.id);
    assert.deepEqual(
      jobs.map((job) => [job.name, job.stage, job.status]),
      [['compile', 'build', 'pending'], ['rspec', 'test', 'created']],
    );
  }

  async function assertRefused(repoUrl: string, sha: string, expectedError: string | RegExp): Promise<void> {
    const project = await projectAt(repoUrl);
    const reply = await createPipeline(project.id, { sha });
    assert.equal(reply.status, 400, reply.text);
    assert.equal(reply.headers.get('content-type'), 'application/json');
    assert.equal(reply.body.message, '400 (Bad request) "ci_config" is invalid');
    assert.equal(reply.body.errors.length, 1, reply.text);
    if (typeof expectedError === 'string') assert.equal(reply.body.errors[0], expectedError);
    else assert.match(reply.body.errors[0] ?? '', expectedError);
    const stored = await coordinator.db('pipelines').where({ project_id: project.id }).count({ n: '*' });
    assert.equal(Number(stored[0]?.n), 0, 'nothing stored');
  }

  test('from a working copy by absolute path', () => assertPipelineFromRepository(workingCopy));

  test('from a bare repository by absolute path', () => assertPipelineFromRepository(bare));

  test('from a working copy and a bare repository by file:// URL', async () => {
    const workingCopyUrl = pathToFileURL(workingCopy).href;
    assert.match(workingCopyUrl, /%20/);
    await assertPipelineFromRepository(workingCopyUrl);
    await assertPipelineFromRepository(pathToFileURL(bare).href);
  });

  test('from a path given with a trailing slash, and an upper-case sha', async () => {
    const project = await projectAt(`${bare}/`);
    const reply = await createPipeline(project.id, { sha: withConfig.toUpperCase() });
    assert.equal(reply.status, 201, reply.text);
    assert.equal(reply.body.sha, withConfig);
  });

  test('the request ci_config and the project ci_config come before the repository', async () => {
    const fromRequest = await projectAt(workingCopy);
    const requestReply = await createPipeline(fromRequest.id, { sha: withoutConfig, ci_config: 'lint:\n  script: lint\n' });
    assert.equal(requestReply.status, 201, requestReply.text);
    assert.deepEqual((await api.listJobs(fromRequest.id, requestReply.body.id)).map((job) => job.name), ['lint']);

    const fromProject = await projectAt(workingCopy, 'docs:\n  script: make docs\n');
    const projectReply = await createPipeline(fromProject.id, { sha: withoutConfig });
    assert.equal(projectReply.status, 201, projectReply.text);
    assert.deepEqual((await api.listJobs(fromProject.id, projectReply.body.id)).map((job) => job.name), ['docs']);
  });

  test('a commit without .gitlab-ci.yml gets 400 saying so', async () => {
    await assertRefused(workingCopy, withoutConfig, `.gitlab-ci.yml not found in commit ${withoutConfig} of ${workingCopy}`);
    await assertRefused(bare, withoutConfig, `.gitlab-ci.yml not found in commit ${withoutConfig} of ${bare}`);
  });

  test('an unknown sha, or the sha of something that is not a commit, gets 400 naming it', async () => {
    await assertRefused(workingCopy, UNKNOWN_SHA, `Commit ${UNKNOWN_SHA} not found in ${workingCopy}`);
    const fileUrl = pathToFileURL(bare).href;
    await assertRefused(fileUrl, UNKNOWN_SHA, `Commit ${UNKNOWN_SHA} not found in ${fileUrl}`);
    const tree = execFileSync('git', ['--git-dir', bare, 'rev-parse', `${withConfig}^{tree}`], { encoding: 'utf8' }).trim();
    await assertRefused(bare, tree, `Commit ${tree} not found in ${bare}`);
  });

  test('an invalid .gitlab-ci.yml in the repository gets the validator errors', async () => {
    const project = await projectAt(workingCopy);
    const reply = await createPipeline(project.id, { sha: invalidConfig });
    assert.equal(reply.status, 400);
    assert.deepEqual(reply.body.errors, ['rspec job: stage parameter should be build, test, deploy']);
  });

  test('URLs other than local paths and file:// get 400 asking for ci_config', async () => {
    for (const [repoUrl, scheme] of [
      ['https://git.example.com/group/project.git', 'https'],
      ['http://git.example.com/group/project.git', 'http'],
      ['ssh://git@git.example.com/group/project.git', 'ssh'],
      ['git://git.example.com/group/project.git', 'git'],
      ['git@git.example.com:group/project.git', 'ssh'],
      ['HTTPS://git.example.com/p.git', 'https'],
    ] as const) {
      await assertRefused(repoUrl, withConfig, `Reading .gitlab-ci.yml from ${scheme} URLs is not supported; give ci_config`);
    }
  });

  test('a relative path, a missing repository, a non-repository and a remote file:// host get 400', async () => {
    await assertRefused('repos/project.git', withConfig, /^repo_url repos\/project\.git must be an absolute path or a file:\/\/ URL/);
    await assertRefused('--upload-pack=touch /tmp/pwned', withConfig, /must be an absolute path/);
    const missing = path.join(scratch, 'missing.git');
    await assertRefused(missing, withConfig, `Repository ${missing} does not exist`);
    await assertRefused(pathToFileURL(missing).href, withConfig, `Repository ${missing} does not exist`);
    const notARepository = path.join(scratch, 'plain');
    fs.mkdirSync(notARepository);
    await assertRefused(notARepository, withConfig, /^Cannot read the repository at .*plain: not a git repository/);
    await assertRefused('file://git.example.com/srv/project.git', withConfig, /is not a file:\/\/ URL of this machine/);
  });

  test('resolveRef finds branches and tags, peels annotated tags, and refuses revision syntax', async () => {
    assert.equal(await resolveRef(workingCopy, 'master'), invalidConfig);
    assert.equal(await resolveRef(workingCopy, 'feature'), withConfig);
    assert.equal(await resolveRef(pathToFileURL(bare).href, 'v1.0'), withConfig);
    assert.equal(await resolveRef(bare, 'no-such-branch'), undefined);
    for (const notARefName of ['master^', 'master~1', 'master@{1}', 'HEAD:README.md', '-h', 'a..b', '', 'feature.lock', 'refs/../x']) {
      assert.equal(await resolveRef(workingCopy, notARefName), undefined, notARefName);
    }
    await assert.rejects(resolveRef('https://git.example.com/p.git', 'master'), RepositoryReadError);
    await assert.rejects(resolveRef(path.join(scratch, 'missing.git'), 'master'), /does not exist/);
  });
});
