/**
 * Reading a project's `.gitlab-ci.yml` and refs from its git repository, for pipelines
 * created without a config. Only repositories on this machine are read (an absolute path
 * or a `file://` URL); fetching from remote hosts is left to a later issue.
 *
 * git runs through execFile with an argv array, never a shell. Nothing from a request can
 * become an option: the repository path rides inside `--git-dir=...`, a sha is checked to
 * be 40 hex digits and a ref name against git's own rules before they reach the argv.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Why the repository could not be read; the message is meant for the API's caller. */
export class RepositoryReadError extends Error {}

const CI_CONFIG_PATH = '.gitlab-ci.yml';
/** The same bound as a `ci_config` sent in a request body (MAX_BODY_SIZE_MB's default). */
const MAX_REPOSITORY_CONFIG_BYTES = 16 * 1024 * 1024;
const GIT_TIMEOUT_MS = 10_000;
const SHA = /^[0-9a-f]{40}$/i;

/** `rev-parse --verify --quiet` exits 1 (and says nothing) when the revision does not exist. */
const REVISION_MISSING_EXIT_CODE = 1;

/**
 * The text of `.gitlab-ci.yml` in commit `sha` of the repository at `repoUrl`.
 * Throws RepositoryReadError naming the reason: unsupported URL, no repository there,
 * unknown commit, no such file, file too large, or git failing.
 */
export async function readCiConfigFromRepository(repoUrl: string, sha: string): Promise<string> {
  if (!SHA.test(sha)) throw new RepositoryReadError(`"${sha}" is not a commit sha (40 hexadecimal digits)`);
  const gitDir = await locateGitDir(repoUrl);
  const commit = sha.toLowerCase();
  // `^{commit}`: the sha of a tree would otherwise do as well.
  const shown = await runGit(gitDir, ['cat-file', 'blob', `${commit}^{commit}:${CI_CONFIG_PATH}`], MAX_REPOSITORY_CONFIG_BYTES);
  if (shown.ok) return shown.stdout;
  if (shown.tooLarge) {
    throw new RepositoryReadError(`${CI_CONFIG_PATH} in commit ${commit} is larger than ${MAX_REPOSITORY_CONFIG_BYTES} bytes`);
  }
  // Killed (timeout) or git missing: asking again would not tell more.
  if (shown.exitCode === undefined) throw new RepositoryReadError(shown.failure);
  // git says "path does not exist" for an unknown commit too: ask about the commit itself.
  if (!(await commitExists(gitDir, commit))) throw new RepositoryReadError(`Commit ${commit} not found in ${repoUrl}`);
  throw new RepositoryReadError(`${CI_CONFIG_PATH} not found in commit ${commit} of ${repoUrl}`);
}

/**
 * The commit sha of branch `ref`, else of tag `ref` (an annotated tag is peeled to its
 * commit), in the repository at `repoUrl`; undefined when there is no such branch or tag
 * or the name is not a valid ref name. Throws RepositoryReadError when the repository
 * itself cannot be read (unsupported URL, missing, not a repository).
 */
export async function resolveRef(repoUrl: string, ref: string): Promise<string | undefined> {
  if (!isValidRefName(ref)) return undefined;
  const gitDir = await locateGitDir(repoUrl);
  for (const qualified of [`refs/heads/${ref}`, `refs/tags/${ref}`]) {
    const sha = await revParse(gitDir, `${qualified}^{commit}`);
    if (sha !== undefined) return sha;
  }
  return undefined;
}

async function commitExists(gitDir: string, sha: string): Promise<boolean> {
  return (await revParse(gitDir, `${sha}^{commit}`)) !== undefined;
}

async function revParse(gitDir: string, revision: string): Promise<string | undefined> {
  // `revision` starts with a checked sha or `refs/`, so it cannot be read as an option.
  const result = await runGit(gitDir, ['rev-parse', '--verify', '--quiet', revision], 4096);
  if (result.ok) return result.stdout.trim();
  if (result.exitCode === REVISION_MISSING_EXIT_CODE) return undefined;
  throw new RepositoryReadError(result.failure);
}

/**
 * The git directory behind `repoUrl`: `<path>/.git` for a working copy, `<path>` for a
 * bare repository. Refuses every other kind of URL with a message saying what to do.
 */
async function locateGitDir(repoUrl: string): Promise<string> {
  const repoPath = localPathOf(repoUrl);
  if (!(await exists(repoPath))) throw new RepositoryReadError(`Repository ${repoPath} does not exist`);
  const dotGit = path.join(repoPath, '.git');
  return (await exists(dotGit)) ? dotGit : repoPath;
}

function localPathOf(repoUrl: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(repoUrl)?.[1]?.toLowerCase();
  if (scheme === 'file') {
    try {
      return fileURLToPath(repoUrl);
    } catch {
      throw new RepositoryReadError(`repo_url ${repoUrl} is not a file:// URL of this machine (file:///path/to/repo)`);
    }
  }
  if (scheme !== undefined) throw unsupported(scheme);
  // scp-like syntax, as git itself reads it: `user@host:path`, a colon before any slash.
  if (/^[^/]*:/.test(repoUrl)) throw unsupported('ssh');
  if (!path.isAbsolute(repoUrl)) {
    throw new RepositoryReadError(`repo_url ${repoUrl} must be an absolute path or a file:// URL to read ${CI_CONFIG_PATH} from it; give ci_config`);
  }
  return path.normalize(repoUrl);
}

function unsupported(scheme: string): RepositoryReadError {
  return new RepositoryReadError(`Reading ${CI_CONFIG_PATH} from ${scheme} URLs is not supported; give ci_config`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * git's check-ref-format rules for one ref name (`git help check-ref-format`): what
 * passes cannot be read as revision syntax (`^`, `~`, `:`, `..`, `@{`) or as an option.
 */
export function isValidRefName(ref: string): boolean {
  if (ref === '' || ref === '@' || ref.startsWith('-')) return false;
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) return false;
  if (ref.includes('..') || ref.includes('@{') || ref.includes('//')) return false;
  if (ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.')) return false;
  return ref.split('/').every((part) => !part.startsWith('.') && !part.endsWith('.lock'));
}

type GitResult =
  | { ok: true; stdout: string }
  | { ok: false; exitCode: number | undefined; tooLarge: boolean; failure: string };

/** Runs `git --git-dir=<gitDir> <args>` with a bounded output and time, and no inherited GIT_* settings. */
function runGit(gitDir: string, args: string[], maxBytes: number): Promise<GitResult> {
  return new Promise((resolve) => {
    execFile(
      'git',
      [`--git-dir=${gitDir}`, ...args],
      { env: gitEnvironment(), timeout: GIT_TIMEOUT_MS, maxBuffer: maxBytes, encoding: 'utf8', windowsHide: true },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ ok: true, stdout });
          return;
        }
        const code = (error as NodeJS.ErrnoException).code as unknown;
        resolve({
          ok: false,
          exitCode: typeof code === 'number' ? code : undefined,
          tooLarge: code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
          failure: describeFailure(gitDir, error, code, stderr),
        });
      },
    );
  });
}

function describeFailure(gitDir: string, error: Error & { killed?: boolean }, code: unknown, stderr: string): string {
  if (code === 'ENOENT') return 'Cannot read the repository: git is not installed on the server';
  if (error.killed) return `git took longer than ${GIT_TIMEOUT_MS / 1000} s reading ${gitDir}`;
  // The `fatal:` line says what went wrong; hints that may follow it (safe.directory...) do not.
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const said = (lines.find((line) => line.startsWith('fatal: ')) ?? lines[0])?.replace(/^fatal: /, '');
  return `Cannot read the repository at ${gitDir}: ${said || `git exited with ${String(code)}`}`;
}

/**
 * The server's environment without any GIT_* variable (GIT_DIR, GIT_CONFIG_PARAMETERS...
 * would redirect or reconfigure git), in the C locale and never prompting.
 */
function gitEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_')) env[key] = value;
  }
  return { ...env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' };
}
