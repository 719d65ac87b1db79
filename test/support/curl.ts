// The real curl binary, run on a command line exactly as a person would paste it into a shell.
// `make test-tools` (a prerequisite of `make unit` and `make contract`) installs curl with
// apt-get when the machine has none.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CurlReply {
  status: number;
  /** The final reply's headers (after any `100 Continue`), names lower-cased. */
  headers: Record<string, string>;
  body: Buffer;
}

/** Fails with what to do when curl is missing, rather than with a spawn error mid-test. */
export async function requireCurl(): Promise<string> {
  try {
    const { stdout } = await run('curl', ['--version']);
    return stdout.split('\n')[0] ?? '';
  } catch {
    throw new Error('curl is not installed: `make test-tools` installs it (make test, make unit and make contract run it first)');
  }
}

/**
 * Runs `command` (a `curl ...` line) with /bin/sh, as written, plus only the options that say
 * where curl puts the reply (`--dump-header`, `--output`), so that the request is the
 * command's own. `dir` holds those files.
 */
export async function runCurl(command: string, dir: string): Promise<CurlReply> {
  const headerFile = path.join(dir, 'headers.txt');
  const bodyFile = path.join(dir, 'body.bin');
  fs.rmSync(headerFile, { force: true });
  fs.rmSync(bodyFile, { force: true });
  await run('/bin/sh', ['-c', `${command} --silent --show-error --dump-header '${headerFile}' --output '${bodyFile}'`], { timeout: 60_000 });
  const blocks = fs.readFileSync(headerFile, 'latin1').split(/\r\n\r\n/).filter((block) => block.startsWith('HTTP/'));
  const [statusLine, ...lines] = (blocks.at(-1) ?? '').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine?.split(' ')[1]), headers, body: fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile) : Buffer.alloc(0) };
}
