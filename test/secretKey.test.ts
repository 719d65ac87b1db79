// CI_SECRET_KEY_FILE: generated on first start (0600), kept across restarts, and a server given
// another key than the one a database's tokens were sealed with refuses to start.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { startCoordinator } from '../src/runtime.js';
import { startTestCoordinator } from './support/coordinator.js';
import { startBuildWorld } from './support/runningBuilds.js';

const dirs: string[] = [];
function freshDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

describe('CI_SECRET_KEY_FILE', () => {
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('is generated on first start with mode 0600 and kept: sealed tokens still open after a restart', async () => {
    const keyFile = path.join(freshDir('coordinator-key-'), 'nested', 'secret.key');
    const dataDir = freshDir('coordinator-keyed-');
    // One database file across the restarts, on either store's run.
    const env = { DATA_DIR: dataDir, DATABASE_URL: `sqlite:${path.join(dataDir, 'coordinator.sqlite3')}`, CI_SECRET_KEY_FILE: keyFile };
    const world = await startBuildWorld(env);
    const running = await world.builds.start();
    const key = fs.readFileSync(keyFile, 'utf8');
    assert.match(key, /^[0-9a-f]{64}\n$/);
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(fs.existsSync(path.join(dataDir, 'secret.key')), false, 'not in DATA_DIR when the file is named');
    await world.stop();

    const again = await startTestCoordinator(env);
    try {
      assert.equal(fs.readFileSync(keyFile, 'utf8'), key, 'the same key');
      const reply = await fetch(`${again.url}/ci/api/v1/builds/${running.build.id}/trace.txt`, {
        method: 'PATCH',
        headers: { 'BUILD-TOKEN': running.build.token, 'Content-Type': 'text/plain', 'Content-Range': '0-2' },
        body: 'ok\n',
      });
      assert.equal(reply.status, 202, 'the build token still opens its build');
      const project = await fetch(`${again.url}/api/v4/projects/${running.projectId}`, { headers: { 'PRIVATE-TOKEN': again.adminToken } });
      assert.equal(((await project.json()) as { runners_token: string }).runners_token, running.runnersToken);
    } finally {
      await again.stop();
    }
  });

  test('another key for the same database is refused at start, with a clear message', async () => {
    const dataDir = freshDir('coordinator-keyed-');
    await (await startTestCoordinator({ DATA_DIR: dataDir, DATABASE_URL: `sqlite:${path.join(dataDir, 'coordinator.sqlite3')}` })).stop();
    const otherKey = path.join(freshDir('coordinator-key-'), 'other.key');
    const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, CI_SECRET_KEY_FILE: otherKey, HOUSEKEEPING_INTERVAL_SECONDS: '0' });
    await assert.rejects(startCoordinator(config, { log: () => {} }), /CI_SECRET_KEY_FILE holds another key/);
  });

  test('a key file that is not 32 bytes or more of hex is refused', async () => {
    const keyFile = path.join(freshDir('coordinator-key-'), 'short.key');
    fs.writeFileSync(keyFile, 'abcdef\n', { mode: 0o600 });
    const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: freshDir('coordinator-keyed-'), CI_SECRET_KEY_FILE: keyFile });
    await assert.rejects(startCoordinator(config, { log: () => {} }), /must hold at least 32 bytes as hex characters/);
  });
});
