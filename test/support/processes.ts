import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A free TCP port on 127.0.0.1, picked by the kernel. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface StartedProcess {
  child: ChildProcess;
  output(): string;
  /** The process has exited (crashed, or refused to start). */
  exited(): boolean;
  /** Kills the whole process group (make → node → ...) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts a command in its own process group so that stop() reaches its children too. */
export function startProcess(command: string, args: string[], env: Record<string, string>): StartedProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop() {
      if (child.exitCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
        const killer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}

/**
 * Polls `url` until it answers at all (any status), or fails after `timeoutMs`, or at once
 * when `process` (the server that should answer) has exited.
 */
export async function waitUntilAnswering(url: string, timeoutMs: number, describe: () => string, process?: StartedProcess): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch {
      if (process?.exited()) throw new Error(`the server for ${url} exited before it answered:\n${describe()}`);
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${describe()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** The real server (src/server.ts) in a child process, answering on `url`. */
export interface ServerProcess {
  process: StartedProcess;
  url: string;
  port: number;
}

/**
 * Starts src/server.ts as its own process on 127.0.0.1 with `env` (PORT picked at run time
 * when `env` names none, so that a restart can keep a port by passing it again) and waits
 * until it answers its liveness check. A port picked here can be taken by another socket
 * (an outgoing database connection's ephemeral port, say) before the server binds it: then
 * the server exits with EADDRINUSE and is started again on another port.
 */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const process = startProcess('node', ['--import', 'tsx', 'src/server.ts'], { ...env, HOST: '127.0.0.1', PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntilAnswering(`${url}/-/liveness`, 60_000, process.output, process);
      return { process, url, port };
    } catch (err) {
      // Read before stop(), which makes every process one that exited.
      const portTaken = process.exited() && /EADDRINUSE/.test(process.output());
      // A server that never answered is still a process this test started.
      await process.stop();
      if (!portTaken || env.PORT || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

const PORT_ATTEMPTS = 3;

export interface ServerProcesses {
  urls: string[];
  servers: StartedProcess[];
  /** Stops every one of them. */
  stop(): Promise<void>;
}

/**
 * `count` real server processes started together, sharing one database and DATA_DIR as several
 * processes behind a load balancer would; resolves once each answers its liveness check.
 */
export async function startServerProcesses(count: number, env: Record<string, string> & { DATA_DIR: string; DATABASE_URL: string }): Promise<ServerProcesses> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  const started = await Promise.allSettled([...ports].map((port) => startServerProcess({ LOG_LEVEL: 'warn', ...env, PORT: String(port) })));
  const up = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async () => {
    for (const server of up) await server.process.stop();
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { urls: up.map((server) => server.url), servers: up.map((server) => server.process), stop };
}
