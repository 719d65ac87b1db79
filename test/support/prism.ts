import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const prismBin = path.join(repoRoot, 'node_modules/.bin/prism');
const specFile = path.join(repoRoot, 'openapi.yaml');

/** Prism prints this once the mock answers HTTP. */
const READY_LINE = /Prism is listening on/;
/** Prism logs every request or response that breaks openapi.yaml (its own examples included). */
const VIOLATION_LINE = /Violation:/;
const START_TIMEOUT_MS = 60_000;

export interface PrismMock {
  /** `http://127.0.0.1:<port>`, the base URL a runner is pointed at. */
  url: string;
  port: number;
  /** Prism's log lines that report a contract violation, so far. */
  violations(): string[];
  /** Kills Prism and everything it started. */
  stop(): Promise<void>;
}

/**
 * Starts `prism mock -h 127.0.0.1 -p <free port> openapi.yaml` exactly as `make mock`
 * does, and resolves once it listens.
 */
export async function startPrismMock(): Promise<PrismMock> {
  const port = await freePort();
  // Its own process group, so stop() can signal Prism and any child it forks.
  const child = spawn(prismBin, ['mock', '-h', '127.0.0.1', '-p', String(port), specFile], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const collect = (chunk: Buffer) => log.push(...chunk.toString('utf8').split('\n'));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  try {
    await waitForLine(child, log, READY_LINE);
  } catch (err) {
    await killGroup(child);
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    violations: () => log.filter((line) => VIOLATION_LINE.test(line)),
    stop: () => killGroup(child),
  };
}

/** A port the OS just handed out; Prism binds it right after. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port from the OS'));
      });
    });
  });
}

function waitForLine(child: ChildProcess, log: string[], pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.off('exit', exited);
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      if (log.some((line) => pattern.test(line))) done();
    };
    const exited = (code: number | null) => done(new Error(`prism exited (${code}) before listening:\n${log.join('\n')}`));
    const timer = setTimeout(() => done(new Error(`prism did not listen within ${START_TIMEOUT_MS} ms:\n${log.join('\n')}`)), START_TIMEOUT_MS);
    child.stdout?.on('data', check);
    child.once('exit', exited);
    check();
  });
}

async function killGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(child.pid, 'SIGTERM');
  const forced = setTimeout(() => signalGroup(child.pid ?? 0, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(forced);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
