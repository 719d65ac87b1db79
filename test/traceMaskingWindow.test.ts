// Issue 9: a token or secret variable value split across trace PATCHes is masked too, in what
// the API shows and in what the database holds, while each append stays append-only: only
// the short tail of the trace (the masking window) is ever rewritten.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBuildWorld, type BuildWorld, type RunningBuild } from './support/runningBuilds.js';
import { FACTORY_CONFIG } from './support/runnerApi.js';

const SECRET = 'split-secret-value-0042';

describe('masking secrets split across trace PATCHes', () => {
  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
  });
  after(() => world.stop());

  async function runningBuildWithSecret(): Promise<RunningBuild> {
    const { project, runner } = await world.builds.prepare(FACTORY_CONFIG);
    assert.equal((await world.api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'DEPLOY_KEY', value: SECRET })).status, 201);
    await world.api.createPipeline(project.id, { ci_config: FACTORY_CONFIG });
    const build = await runner.requestBuild();
    assert.ok(build);
    return { build, runner, runnersToken: project.runners_token, projectId: project.id };
  }

  /** Sends `pieces` as consecutive PATCHes; each must be accepted at the offset it extends. */
  async function patchAll(running: RunningBuild, pieces: string[]): Promise<void> {
    let offset = 0;
    for (const piece of pieces) {
      const reply = await running.runner.patchTrace(running.build.id, running.build.token, offset, piece);
      assert.equal(reply.status, 202, reply.body.toString());
      offset += Buffer.byteLength(piece);
      assert.equal(reply.range, `0-${offset}`, 'masking keeps every offset');
    }
  }

  async function shownTrace(running: RunningBuild): Promise<string> {
    const reply = await world.api.request<string>('GET', `/api/v4/projects/${running.projectId}/jobs/${running.build.id}/trace`);
    assert.equal(reply.status, 200);
    return reply.text;
  }

  async function storedChunks(buildId: number): Promise<Buffer[]> {
    const rows: { data: Buffer }[] = await world.coordinator.db('trace_chunks').where({ build_id: buildId }).orderBy('id').select('data');
    return rows.map((row) => Buffer.from(row.data));
  }

  test('the build token and a variable value split at every position are masked, shown and stored', async () => {
    const running = await runningBuildWithSecret();
    const pieces: string[] = [];
    for (const secret of [running.build.token, SECRET, running.runnersToken]) {
      for (let at = 1; at < secret.length; at++) pieces.push(`[${secret.slice(0, at)}`, `${secret.slice(at)}]\n`);
    }
    await patchAll(running, pieces);
    const text = pieces.join('');
    const expected = [running.build.token, SECRET, running.runnersToken].reduce((masked, secret) => masked.replaceAll(secret, 'x'.repeat(secret.length)), text);
    assert.equal(await shownTrace(running), expected);
    const stored = Buffer.concat(await storedChunks(running.build.id)).toString();
    assert.equal(stored, expected, 'the database holds the masked bytes only');
  });

  test('a secret arriving one byte per PATCH is masked whole', async () => {
    const running = await runningBuildWithSecret();
    const text = `before ${SECRET} after\n`;
    await patchAll(running, [...text]);
    assert.equal(await shownTrace(running), `before ${'x'.repeat(SECRET.length)} after\n`);
  });

  test('only the last chunk is ever shorter than the window: appends never rewrite settled bytes', async () => {
    const running = await runningBuildWithSecret();
    const big = 'y'.repeat(200_000);
    await patchAll(running, [big, 'tail one\n', 'tail two\n']);
    const chunks = await storedChunks(running.build.id);
    // The longest literal secret less one, and at least what the digest masker needs: a glrt- token less one.
    const window = Math.max(running.build.token.length, SECRET.length, running.runnersToken.length, 'glrt-'.length + 30) - 1;
    assert.ok(chunks.length >= 2);
    assert.ok(chunks.at(-1)!.length <= window, `the tail holds at most the window (${window} bytes)`);
    assert.ok(chunks.some((chunk) => chunk.length >= big.length - window), 'the big chunk was stored as it came, not split into pieces');
    assert.equal(Buffer.concat(chunks).toString(), `${big}tail one\ntail two\n`);
  });

  test('the final PUT after split PATCHes stores the masked whole trace', async () => {
    const running = await runningBuildWithSecret();
    const half = Math.floor(SECRET.length / 2);
    await patchAll(running, [`a ${SECRET.slice(0, half)}`, `${SECRET.slice(half)} b\n`]);
    const full = `a ${SECRET} b\nJob succeeded\n`;
    assert.equal((await running.runner.putBuild(running.build.id, { state: 'success', trace: full })).status, 200);
    assert.equal(await shownTrace(running), full.replace(SECRET, 'x'.repeat(SECRET.length)));
  });
});
