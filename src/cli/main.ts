import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiError, CoordinatorClient, targetFromEnv, UsageError, type Schemas } from './client.js';
import { followTrace } from './follow.js';
import { table } from './format.js';

/**
 * The coordinator's command line, over the user API. Where to and as whom come from the
 * environment: COORDINATOR_URL (default http://127.0.0.1:8080) and COORDINATOR_TOKEN (or
 * CI_ADMIN_TOKEN): the admin token, or the viewer token for the commands that only read.
 */
export function buildProgram(env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Command {
  const client = () => new CoordinatorClient(targetFromEnv(env));
  const print = (text: string) => out.write(text);
  const program = new Command('coordinator')
    .description('Command line for the GitLab-CI-compatible build coordinator (its user API).')
    .addHelpText(
      'after',
      '\nEnvironment:\n  COORDINATOR_URL    the server (default http://127.0.0.1:8080)\n  COORDINATOR_TOKEN  the admin or viewer token (default: CI_ADMIN_TOKEN)\n',
    )
    .configureOutput({ writeOut: print, writeErr: (text) => err.write(text) })
    .showHelpAfterError()
    .exitOverride();

  program
    .command('lint')
    .description('check a .gitlab-ci.yml with the validator pipeline creation uses (exit 1 when invalid)')
    .argument('<file>', 'the file, or - for standard input')
    .option('--json', 'print the server’s answer as JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      const result = await client().lint(readInput(file));
      if (options.json) print(`${JSON.stringify(result, null, 2)}\n`);
      else {
        print(result.valid ? `${file} is valid\n` : `${file} is invalid\n`);
        for (const error of result.errors) print(`error: ${error}\n`);
        for (const warning of result.warnings) print(`warning: ${warning}\n`);
      }
      if (!result.valid) process.exitCode = 1;
    });

  const pipeline = program.command('pipeline').description('pipelines of a project');
  pipeline
    .command('create')
    .description('create a pipeline for a commit; its first stage’s builds are pending at once')
    .requiredOption('-p, --project <id>', 'the project id', positiveInteger)
    .requiredOption('-r, --ref <ref>', 'branch or tag')
    .option('-s, --sha <sha>', 'the commit (40 hex digits); default: `git rev-parse <ref>` here')
    .option('-f, --file <file>', 'the .gitlab-ci.yml to run (- for standard input); default: the project’s')
    .option('--tag', 'the ref is a tag')
    .option('-v, --variable <KEY=value>', 'a pipeline variable (repeatable)', collectVariable, [] as Schemas['PipelineVariable'][])
    .option('--json', 'print the pipeline as JSON')
    .action(async (options: { project: number; ref: string; sha?: string; file?: string; tag?: boolean; variable: Schemas['PipelineVariable'][]; json?: boolean }) => {
      const created = await client().createPipeline(options.project, {
        ref: options.ref,
        sha: options.sha ?? shaOf(options.ref),
        tag: options.tag ?? false,
        ...(options.file ? { ci_config: readInput(options.file) } : {}),
        ...(options.variable.length > 0 ? { variables: options.variable } : {}),
      });
      print(options.json ? `${JSON.stringify(created, null, 2)}\n` : `pipeline #${created.id} ${created.status} (${created.ref} ${created.sha.slice(0, 8)})\n`);
    });

  program
    .command('trace')
    .description('print a job’s trace; with -f, follow it live until the job finishes (exit 1 unless it succeeded)')
    .argument('<job>', 'the job id', positiveInteger)
    .requiredOption('-p, --project <id>', 'the project id', positiveInteger)
    .option('-f, --follow', 'follow the live trace (Server-Sent Events) until the job finishes')
    .action(async (jobId: number, options: { project: number; follow?: boolean }) => {
      const api = client();
      if (!options.follow) {
        print(await api.trace(options.project, jobId));
        return;
      }
      const { status } = await followTrace(api, options.project, jobId, print);
      err.write(`job ${jobId} ${status ?? 'is gone'}\n`);
      if (status !== 'success') process.exitCode = 1;
    });

  program
    .command('runners')
    .description('list runners')
    .addOption(new Option('--scope <scope>', 'only these').choices(['active', 'paused', 'online', 'specific', 'shared']))
    .option('--tag <tags>', 'only runners with all these tags (comma-separated)')
    .option('--page <n>', 'page (from 1)', positiveInteger)
    .option('--per-page <n>', 'runners per page (at most 100)', positiveInteger)
    .option('--json', 'print the runners as JSON')
    .action(async (options: { scope?: string; tag?: string; page?: number; perPage?: number; json?: boolean }) => {
      const runners = await client().runners(query({ scope: options.scope, tag_list: options.tag, page: options.page, per_page: options.perPage }));
      if (options.json) print(`${JSON.stringify(runners, null, 2)}\n`);
      else print(table(['ID', 'DESCRIPTION', 'STATUS', 'SHARED'], runners.map((runner) => [runner.id, runner.description, runner.status, runner.is_shared ? 'shared' : 'specific'])));
    });

  program
    .command('jobs')
    .description('list a project’s jobs, newest first')
    .requiredOption('-p, --project <id>', 'the project id', positiveInteger)
    .option('--status <status...>', 'only jobs in these statuses')
    .option('--page <n>', 'page (from 1)', positiveInteger)
    .option('--per-page <n>', 'jobs per page (at most 100)', positiveInteger)
    .option('--json', 'print the jobs as JSON')
    .action(async (options: { project: number; status?: string[]; page?: number; perPage?: number; json?: boolean }) => {
      const params = query({ page: options.page, per_page: options.perPage });
      for (const status of options.status ?? []) params.append('scope[]', status);
      const jobs = await client().jobs(options.project, params);
      if (options.json) print(`${JSON.stringify(jobs, null, 2)}\n`);
      else print(table(['ID', 'NAME', 'STAGE', 'STATUS', 'REF', 'RUNNER'], jobs.map((job) => [job.id, job.name, job.stage, job.status, job.ref, job.runner?.id])));
    });

  return program;
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit status. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, out = process.stdout, err = process.stderr): Promise<number> {
  const program = buildProgram(env, out, err);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (caught) {
    if (isCommanderExit(caught)) return caught.exitCode;
    if (caught instanceof ApiError) {
      err.write(`error: ${caught.message}\n`);
      for (const detail of caught.details) err.write(`  ${detail}\n`);
      return 1;
    }
    if (caught instanceof UsageError) {
      err.write(`error: ${caught.message}\n`);
      return 2;
    }
    const cause = caught instanceof Error && caught.cause instanceof Error ? `: ${caught.cause.message}` : '';
    err.write(`error: ${caught instanceof Error ? caught.message : String(caught)}${cause}\n`);
    return 1;
  }
}

function isCommanderExit(value: unknown): value is { exitCode: number } {
  return typeof value === 'object' && value !== null && 'code' in value && String((value as { code: unknown }).code).startsWith('commander.') && 'exitCode' in value;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1) throw new InvalidArgumentError('must be a positive integer');
  return number;
}

function collectVariable(value: string, previous: Schemas['PipelineVariable'][]): Schemas['PipelineVariable'][] {
  const eq = value.indexOf('=');
  if (eq < 1) throw new InvalidArgumentError('must be KEY=value');
  return [...previous, { key: value.slice(0, eq), value: value.slice(eq + 1) }];
}

function readInput(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function shaOf(ref: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    throw new UsageError(`no --sha given and \`git rev-parse ${ref}\` found no commit here`);
  }
}

function query(fields: Record<string, string | number | undefined>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) params.set(key, String(value));
  return params;
}
