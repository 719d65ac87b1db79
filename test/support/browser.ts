import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium: playwright-core drives it; it downloads no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

/** The machine has Debian's Chromium afterwards: CI starts bare (as root), so it installs it if missing. */
export function ensureChromium(): void {
  if (fs.existsSync(CHROMIUM)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]) => execFileSync('apt-get', args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  try {
    run(['update']);
    run(['install', '-y', 'chromium']);
  } catch (err) {
    const output = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`apt-get install -y chromium failed:\n${output.stdout?.toString() ?? ''}\n${output.stderr?.toString() ?? ''}`);
  }
  if (!fs.existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium, but there is no ${CHROMIUM}`);
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless Chromium with a fresh profile (its own --user-data-dir), removed again on close. */
export async function launchBrowser(): Promise<Browser> {
  ensureChromium();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    // A loaded CI machine: generous, since every wait is for an event, not for time to pass.
    timeout: 120_000,
  });
  context.setDefaultTimeout(30_000);
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where the browser tests put their screenshots (git-ignored). */
export function screenshotPath(name: string): string {
  const dir = path.resolve('test-results');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
