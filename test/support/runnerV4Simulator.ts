// A protocol-faithful simulator of gitlab-ci-runner 17.11 (network client and job executor) as an HTTP
// client of the runner API v4. Everything it sends and how it reads every reply follows
// /work/shared/reference/runner-protocol-v4.md; section numbers below refer to that document.
//
// Where the real runner would lose a job silently (a JSON type its Go structs cannot hold, a wrong media
// type), the simulator throws a RunnerProtocolError so the test fails loudly instead. Server intervals
// (X-GitLab-Trace-Update-Interval, in seconds) are scaled by `secondMs`, so tests run in milliseconds.
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import {
  RunnerProtocolError,
  goBool,
  goField,
  goInt,
  goJsonStringify,
  goMap,
  goSlice,
  goString,
  goStruct,
  isJsonObject,
  typeMismatch,
  type JsonObject,
} from './goJson.js';
import { GoHttpClient, contentStream, headerValue, multipartBoundary, multipartStream, type HttpReply, type UploadResult } from './goHttp.js';
import { type FileContents, unzipToMap } from './zip.js';

export const V4_RUNNER_VERSION = '17.11.0';
export const V4_RUNNER_USER_AGENT = 'gitlab-runner 17.11.0 (17-11-stable; go1.23.6; linux/amd64)';

/** The features the network client always sets (§2.1), plus a shell executor's. */
export function v4Features(overrides: Record<string, boolean> = {}): Record<string, boolean> {
  return {
    variables: true, image: false, services: false, artifacts: true, cache: true, fallback_cache_keys: true, shared: false,
    upload_multiple_artifacts: true, upload_raw_artifacts: true, session: false, terminal: false, refspecs: true, masking: true,
    proxy: false, raw_variables: true, artifacts_exclude: true, multi_build_steps: true, trace_reset: true, trace_checksum: true,
    trace_size: true, vault_secrets: true, cancelable: true, return_exit_code: true, service_variables: false,
    service_multiple_aliases: false, image_executor_opts: false, service_executor_opts: false, cancel_gracefully: true,
    native_steps_integration: false, ...overrides,
  };
}

function v4Info(features: Record<string, boolean>): JsonObject {
  return {
    name: 'gitlab-runner', version: V4_RUNNER_VERSION, revision: '0f67ff19', platform: 'linux', architecture: 'amd64',
    executor: 'shell', shell: 'bash', features, config: { gpus: '' },
  };
}

/** The base URL (§1.0): trailing `/` then a trailing `/ci` stripped, `/api/v4/` appended; http(s) only. */
export function v4ApiBase(url: string): URL {
  const trimmed = url.replace(/\/+$/, '').replace(/\/ci$/, '');
  let parsed: URL;
  try {
    parsed = new URL(`${trimmed}/api/v4/`);
  } catch {
    throw new RunnerProtocolError(`invalid runner URL: ${url}`, 'url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new RunnerProtocolError(`only http and https URLs are allowed: ${url}`, 'url');
  return parsed;
}

// ---------------------------------------------------------------------------------------------------
// The job as the runner's Go structs decode it (§2.4)
// ---------------------------------------------------------------------------------------------------

export interface JobVariable {
  key: string;
  value: string;
  public: boolean;
  masked: boolean;
  file: boolean;
  raw: boolean;
}

export interface JobStep {
  name: string;
  script: string[];
  timeout: number;
  when: string;
  allow_failure: boolean;
}

export interface JobArtifact {
  name: string;
  untracked: boolean;
  paths: string[];
  exclude: string[];
  when: string;
  artifact_type: string;
  artifact_format: string;
  expire_in: string;
}

export interface JobDependency {
  id: number;
  name: string;
  token: string;
  artifacts_file: { filename: string; size: number };
}

export interface JobImage {
  name: string;
  alias: string;
  entrypoint: string[];
  command: string[];
}

/** JobResponse with Go zero values for null or missing fields. */
export interface JobResponse {
  id: number;
  token: string;
  allow_git_fetch: boolean;
  job_info: { name: string; stage: string; project_id: number; project_name: string; time_in_queue_seconds: number };
  git_info: { repo_url: string; ref: string; sha: string; before_sha: string; ref_type: string; refspecs: string[]; depth: number };
  runner_info: { timeout: number };
  variables: JobVariable[];
  steps: JobStep[];
  image: JobImage;
  services: JobImage[];
  artifacts: JobArtifact[];
  cache: { key: string; untracked: boolean; policy: string; paths: string[]; when: string; fallback_keys: string[] }[];
  credentials: { type: string; url: string; username: string; password: string }[];
  dependencies: JobDependency[];
  features: { trace_sections: boolean; token_mask_prefixes: string[]; failure_reasons: string[] };
  /** The reply exactly as parsed, for tests that look at more. */
  raw: JsonObject;
}

function goFloat(value: unknown, path: string): number {
  if (value === null || value === undefined) return 0;
  if (typeof value !== 'number') throw typeMismatch(value, 'float64', path);
  return value;
}

const strings = (value: unknown, path: string): string[] => goSlice(value, path, goString);

/** A struct field by field: `fields` decodes each key the struct has. */
function goObject<T>(value: unknown, path: string, fields: { [K in keyof T]: (field: unknown, path: string) => T[K] }): T {
  const object = goStruct(value, path);
  const decoded = {} as T;
  for (const key of Object.keys(fields) as (keyof T & string)[]) decoded[key] = fields[key](goField(object, key), `${path}.${key}`);
  return decoded;
}

function decodeImage(value: unknown, path: string): JobImage {
  const image = goObject<JobImage>(value, path, { name: goString, alias: goString, entrypoint: strings, command: strings });
  // ports, pull_policy, variables: slices of structs / strings; decoded for their types only.
  const object = goStruct(value, path);
  goSlice(goField(object, 'ports'), `${path}.ports`, (port, at) => goObject(port, at, { number: goInt, protocol: goString, name: goString }));
  strings(goField(object, 'pull_policy'), `${path}.pull_policy`);
  return image;
}

/**
 * Decodes a jobs/request 201 body as the runner does: any JSON type mismatch throws (the real runner
 * logs "Checking for jobs... failed" and the job is lost while the server thinks it runs). Also refuses
 * what decodes but cannot run: id 0, and a `run` key (18.9+ fails on null or "").
 */
export function decodeJobResponse(json: unknown): JobResponse {
  if (!isJsonObject(json)) throw typeMismatch(json, 'common.JobResponse', '$');
  const field = (name: string): unknown => goField(json, name);
  const job: JobResponse = {
    id: goInt(field('id'), '$.id'),
    token: goString(field('token'), '$.token'),
    allow_git_fetch: goBool(field('allow_git_fetch'), '$.allow_git_fetch'),
    job_info: goObject(field('job_info'), '$.job_info', {
      name: goString, stage: goString, project_id: goInt, project_name: goString, time_in_queue_seconds: goFloat,
    }),
    git_info: goObject(field('git_info'), '$.git_info', {
      repo_url: goString, ref: goString, sha: goString, before_sha: goString, ref_type: goString, refspecs: strings, depth: goInt,
    }),
    runner_info: goObject(field('runner_info'), '$.runner_info', { timeout: goInt }),
    variables: goSlice(field('variables'), '$.variables', (value, path) =>
      goObject<JobVariable>(value, path, { key: goString, value: goString, public: goBool, masked: goBool, file: goBool, raw: goBool }),
    ),
    steps: goSlice(field('steps'), '$.steps', (value, path) =>
      goObject<JobStep>(value, path, { name: goString, script: strings, timeout: goInt, when: goString, allow_failure: goBool }),
    ),
    image: decodeImage(field('image'), '$.image'),
    services: goSlice(field('services'), '$.services', decodeImage),
    artifacts: goSlice(field('artifacts'), '$.artifacts', (value, path) =>
      goObject<JobArtifact>(value, path, {
        name: goString, untracked: goBool, paths: strings, exclude: strings, when: goString, artifact_type: goString, artifact_format: goString, expire_in: goString,
      }),
    ),
    cache: goSlice(field('cache'), '$.cache', (value, path) =>
      goObject(value, path, { key: goString, untracked: goBool, policy: goString, paths: strings, when: goString, fallback_keys: strings }),
    ),
    credentials: goSlice(field('credentials'), '$.credentials', (value, path) =>
      goObject(value, path, { type: goString, url: goString, username: goString, password: goString }),
    ),
    dependencies: goSlice(field('dependencies'), '$.dependencies', (value, path) =>
      goObject<JobDependency>(value, path, {
        id: goInt, name: goString, token: goString,
        artifacts_file: (file, at) => goObject(file, at, { filename: goString, size: goInt }),
      }),
    ),
    features: goObject(field('features'), '$.features', { trace_sections: goBool, token_mask_prefixes: strings, failure_reasons: strings }),
    raw: json,
  };
  goSlice(field('hooks'), '$.hooks', (value, path) => goObject(value, path, { name: goString, script: strings }));
  goMap(field('secrets'), '$.secrets');
  if ('run' in json) throw new RunnerProtocolError('the job has a `run` key: runners 18.9+ fail to decode it (§2.4)', 'decode');
  if (job.id === 0) throw new RunnerProtocolError('job id 0: every later URL would name job 0', 'payload');
  return job;
}

// ---------------------------------------------------------------------------------------------------
// How the runner reads PUT and PATCH replies (§3.3, §4.3)
// ---------------------------------------------------------------------------------------------------

export type V4UpdateState = 'succeeded' | 'accepted' | 'abort' | 'not-found' | 'range-mismatch' | 'trace-validation-failed' | 'failed';

/** PUT jobs/:id: Job-Status canceled/failed or 403 abort first; then 200, 202, 412, 404; anything else failed. */
export function classifyUpdateReply(status: number, jobStatus: string | undefined): V4UpdateState {
  if (jobStatus === 'canceled' || jobStatus === 'failed' || status === 403) return 'abort';
  if (status === 200) return 'succeeded';
  if (status === 202) return 'accepted';
  if (status === 412) return 'trace-validation-failed';
  if (status === 404) return 'not-found';
  return 'failed';
}

/** PATCH jobs/:id/trace: abort as for PUT; 202 sent; 416 resend from Range; 404 not found; else retry. */
export function classifyPatchReply(status: number, jobStatus: string | undefined): V4UpdateState {
  if (jobStatus === 'canceled' || jobStatus === 'failed' || status === 403) return 'abort';
  if (status === 202) return 'succeeded';
  if (status === 416) return 'range-mismatch';
  if (status === 404) return 'not-found';
  return 'failed';
}

/** The runner's new offset after a 416: the number after `-` in Range, 0 when absent or unparsable (§4.3). */
export function offsetAfterRangeMismatch(range: string | undefined): number {
  const end = (range ?? '').split('-')[1];
  return end !== undefined && /^\d+$/.test(end) ? Number(end) : 0;
}

/** `X-GitLab-Trace-Update-Interval`: whole seconds, capped at 15 min; ≤0 or unparsable is ignored (§3.3). */
export function updateIntervalSeconds(header: string | undefined): number | undefined {
  if (header === undefined || !/^-?\d+$/.test(header.trim())) return undefined;
  const seconds = Number(header);
  return seconds > 0 ? Math.min(seconds, 15 * 60) : undefined;
}

/** The runner maps a failure reason through the job's `failure_reasons` before sending it (§3.1). */
export function supportedFailureReason(reason: string, offered: string[]): string {
  const supported = new Set([...offered, 'script_failure', 'runner_system_failure', 'job_execution_timeout']);
  if (supported.has(reason)) return reason;
  if (reason === 'image_pull_failure') return 'runner_system_failure';
  if (reason === 'configuration_error') return 'script_failure';
  return 'unknown_failure';
}

const logChecksum = (log: Buffer): string => `crc32:${crc32(log).toString(16).padStart(8, '0')}`;

// ---------------------------------------------------------------------------------------------------
// Running a job
// ---------------------------------------------------------------------------------------------------

/** What the job does on the simulated runner. */
export interface JobScript {
  /**
   * Log output, one element per update interval: each tick appends its text and sends what is not yet
   * acknowledged as one PATCH. `''` is a silent interval: the runner's keep-alive PUT instead.
   */
  output?: string[];
  /** The script's result when nothing canceled it. */
  result?: 'success' | 'failed';
  /** The script's exit code when it failed (sent as exit_code). */
  exitCode?: number;
  /** What the after_script step prints (it runs when the job has one, also after a graceful cancel). */
  afterScriptOutput?: string;
  /** Files the job produced; uploaded per the job's `artifacts` entries. */
  artifacts?: FileContents;
  beforeTick?: (tick: number) => Promise<void> | void;
  /** Awaited before each log PATCH, e.g. to deliver it first as a lost earlier attempt would have. */
  beforePatch?: (offset: number, chunk: Buffer) => Promise<void> | void;
}

export interface PatchRecord {
  /** The Content-Range sent (inclusive end). */
  range: string;
  status: number;
  jobStatus?: string;
  serverRange?: string;
}

export interface PutRecord {
  state: string;
  status: number;
  jobStatus?: string;
  final: boolean;
}

export interface JobRunResult {
  /** `canceled`: aborted by the server (hard cancel) or canceled gracefully. */
  state: 'success' | 'failed' | 'canceled';
  /** True when the server asked for a graceful cancel (Job-Status: canceling). */
  gracefullyCanceled: boolean;
  afterScriptRan: boolean;
  /** The whole local log. */
  log: string;
  patches: PatchRecord[];
  puts: PutRecord[];
  /** Dependency name → its archive's files. */
  downloaded: Record<string, Record<string, Buffer>>;
  uploads: UploadResult[];
  finalUpdate: { outcome: 'ok' | 'aborted' | 'gave-up'; attempts: number; failureReason?: string };
}

export interface RunnerV4SimulatorOptions {
  /** Milliseconds per server second (intervals, backoff). The real runner: 1000. */
  secondMs?: number;
  /** The runner retries its final update 10 times with backoff by default; so does the simulator. */
  maxFinalUpdateAttempts?: number;
  requestTimeoutMs?: number;
  /** What the runner says it can do; `cancel_gracefully` decides the server's cancel (§3.4). */
  features?: Record<string, boolean>;
  systemId?: string;
}

export interface RegisterV4Options {
  description?: string;
  tagList?: string[];
  runUntagged?: boolean;
  locked?: boolean;
  paused?: boolean;
  maximumTimeout?: number;
}

/** The runner's default update interval before the server says otherwise (§7). */
const DEFAULT_UPDATE_INTERVAL_SECONDS = 3;
const ARTIFACTS_ATTEMPTS = 3;

export class RunnerV4Simulator {
  readonly apiBase: URL;
  readonly http: GoHttpClient;
  readonly settings: Required<Omit<RunnerV4SimulatorOptions, 'features' | 'systemId'>>;
  readonly features: Record<string, boolean>;
  readonly systemId: string;
  /** The runner id of the registration reply. */
  id = 0;
  private lastUpdateValue: string | undefined;

  constructor(baseUrl: string, readonly token: string, options: RunnerV4SimulatorOptions = {}) {
    this.apiBase = v4ApiBase(baseUrl);
    this.settings = {
      secondMs: options.secondMs ?? 1000,
      maxFinalUpdateAttempts: options.maxFinalUpdateAttempts ?? 10,
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
    };
    this.features = v4Features(options.features);
    this.systemId = options.systemId ?? `s_${randomBytes(6).toString('hex')}`;
    this.http = new GoHttpClient(this.apiBase, this.settings.requestTimeoutMs);
  }

  get lastUpdate(): string | undefined {
    return this.lastUpdateValue;
  }

  close(): void {
    this.http.close();
  }

  /** `gitlab-runner register --registration-token` (§1.1): 201 JSON `{id, token, token_expires_at}` or it throws. */
  static async register(baseUrl: string, registrationToken: string, options: RegisterV4Options = {}, simulatorOptions: RunnerV4SimulatorOptions = {}): Promise<RunnerV4Simulator> {
    const anonymous = new RunnerV4Simulator(baseUrl, '', simulatorOptions);
    try {
      const body: JsonObject = { token: registrationToken };
      if (options.description) body['description'] = options.description;
      const tags = (options.tagList ?? []).join(',');
      if (tags !== '') body['tag_list'] = tags;
      body['run_untagged'] = options.runUntagged ?? tags === '';
      body['locked'] = options.locked ?? true;
      if (options.maximumTimeout) body['maximum_timeout'] = options.maximumTimeout;
      body['paused'] = options.paused ?? false;
      body['info'] = v4Info({});
      const reply = await anonymous.sendJson('POST', 'runners', body, { accept: true, runnerToken: registrationToken });
      const json = goStruct(expectJson(reply, 201, 'POST runners'), '$');
      const token = goString(goField(json, 'token'), '$.token');
      const expiresAt = goField(json, 'token_expires_at');
      // time.Time: null or absent is the zero time; "" and anything but an RFC 3339 string fail (§1.1).
      if (expiresAt !== null && expiresAt !== undefined && (typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt)))) {
        throw new RunnerProtocolError(`token_expires_at ${JSON.stringify(expiresAt)} is no time`, 'decode', 201);
      }
      if (token === '') throw new RunnerProtocolError('POST runners: 201 without a token', 'payload', 201);
      const runner = new RunnerV4Simulator(baseUrl, token, simulatorOptions);
      runner.id = goInt(goField(json, 'id'), '$.id');
      return runner;
    } finally {
      anonymous.close();
    }
  }

  /** POST jobs/request (§2): the job on 201, null on 204; 403 and anything else throw. */
  async requestJob(): Promise<JobResponse | null> {
    const body: JsonObject = { info: v4Info(this.features), token: this.token, system_id: this.systemId };
    if (this.lastUpdateValue !== undefined) body['last_update'] = this.lastUpdateValue;
    const reply = await this.sendJson('POST', 'jobs/request', body, { accept: true, runnerToken: this.token });
    if (reply.status === 204) return null;
    if (reply.status === 403) throw new RunnerProtocolError('jobs/request: 403 (runner unhealthy)', 'status', 403, reply.body.toString());
    return decodeJobResponse(expectJson(reply, 201, 'jobs/request'));
  }

  /** PUT jobs/:id (§3.1) with the job token in the body and in JOB-TOKEN (17.11). */
  updateJob(job: Pick<JobResponse, 'id' | 'token'>, update: JsonObject): Promise<HttpReply> {
    return this.sendJson('PUT', `jobs/${job.id}`, { info: v4Info(this.features), token: job.token, ...update }, { jobToken: job.token });
  }

  /** One PATCH jobs/:id/trace of `bytes` at `offset`, Content-Range with the inclusive end (§4.1). */
  patchTrace(job: Pick<JobResponse, 'id' | 'token'>, offset: number, bytes: Buffer): Promise<HttpReply> {
    return this.http.send(
      'PATCH',
      `jobs/${job.id}/trace?debug_trace=false`,
      { 'User-Agent': V4_RUNNER_USER_AGENT, 'Content-Type': 'text/plain', 'JOB-TOKEN': job.token, 'Content-Range': `${offset}-${offset + bytes.length - 1}` },
      bytes,
    );
  }

  /** artifacts-uploader (§5.1): chunked multipart `file`, format/type/expiry in the query, JOB-TOKEN. */
  uploadArtifacts(job: Pick<JobResponse, 'id' | 'token'>, artifact: JobArtifact, files: FileContents): Promise<UploadResult> {
    const query = new URLSearchParams({ artifact_format: artifact.artifact_format || 'zip', artifact_type: artifact.artifact_type || 'archive' });
    if (artifact.expire_in) query.set('expire_in', artifact.expire_in);
    const boundary = multipartBoundary();
    const headers: OutgoingHttpHeaders = {
      'User-Agent': V4_RUNNER_USER_AGENT,
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'JOB-TOKEN': job.token,
      'Transfer-Encoding': 'chunked',
    };
    const filename = `${artifact.name || 'artifacts'}.zip`;
    return this.http.upload('POST', `jobs/${job.id}/artifacts?${query}`, headers, multipartStream(boundary, filename, contentStream({ files })));
  }

  /** artifacts-downloader (§5.2): the dependency's id and token, `direct_download=true` on the first try only. */
  downloadArtifacts(dependency: Pick<JobDependency, 'id' | 'token'>, firstAttempt: boolean): Promise<HttpReply> {
    const query = firstAttempt ? '?direct_download=true' : '';
    return this.http.send('GET', `jobs/${dependency.id}/artifacts${query}`, { 'User-Agent': V4_RUNNER_USER_AGENT, 'JOB-TOKEN': dependency.token });
  }

  async runJob(job: JobResponse, script: JobScript = {}): Promise<JobRunResult> {
    return new JobExecution(this, job, script).run();
  }

  /** doJSON: Go-encoded body, runner User-Agent, Accept only when the reply is read; RUNNER-TOKEN / JOB-TOKEN (17.11). */
  async sendJson(method: string, path: string, body: unknown, options: { accept?: boolean; runnerToken?: string; jobToken?: string } = {}): Promise<HttpReply> {
    const headers: OutgoingHttpHeaders = { 'User-Agent': V4_RUNNER_USER_AGENT, 'Content-Type': 'application/json' };
    if (options.accept) headers['Accept'] = 'application/json';
    if (options.runnerToken !== undefined) headers['RUNNER-TOKEN'] = options.runnerToken;
    if (options.jobToken !== undefined) headers['JOB-TOKEN'] = options.jobToken;
    const reply = await this.http.send(method, path, headers, Buffer.from(goJsonStringify(body), 'utf8'));
    // Remembered from any reply that carries it (§2.3).
    const lastUpdate = headerValue(reply.headers, 'x-gitlab-last-update');
    if (lastUpdate) this.lastUpdateValue = lastUpdate;
    return reply;
  }
}

/** The body of a JSON reply the runner reads: only on the expected status, media type `application/json` (charset allowed). */
function expectJson(reply: HttpReply, expected: number, what: string): unknown {
  const text = reply.body.toString('utf8');
  if (reply.status !== expected) throw new RunnerProtocolError(`${what}: expected ${expected}, got ${reply.status}`, 'status', reply.status, text);
  const mediaType = (headerValue(reply.headers, 'content-type') ?? '').split(';')[0]?.trim();
  if (mediaType !== 'application/json') throw new RunnerProtocolError(`${what}: not JSON (${headerValue(reply.headers, 'content-type')})`, 'content-type', reply.status, text);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RunnerProtocolError(`${what}: invalid JSON: ${(error as Error).message}`, 'decode', reply.status, text);
  }
}

/** One job on the runner: dependencies, script ticks with log patches, after_script, artifacts, final update. */
class JobExecution {
  private log = Buffer.alloc(0);
  private sentOffset = 0;
  private intervalSeconds = DEFAULT_UPDATE_INTERVAL_SECONDS;
  private aborted = false;
  private canceling = false;
  private afterScriptRan = false;
  private failureReason: string | undefined;
  private readonly patches: PatchRecord[] = [];
  private readonly puts: PutRecord[] = [];
  private readonly uploads: UploadResult[] = [];
  private readonly downloaded: Record<string, Record<string, Buffer>> = {};

  constructor(
    private readonly runner: RunnerV4Simulator,
    private readonly job: JobResponse,
    private readonly script: JobScript,
  ) {}

  async run(): Promise<JobRunResult> {
    this.append(`Running with gitlab-runner ${V4_RUNNER_VERSION} (0f67ff19)\n`);
    let succeeded = (await this.downloadDependencies()) && (await this.runScript());
    if (!this.aborted) await this.runAfterScript();
    if (!this.aborted && !this.canceling && !(await this.uploadArtifacts(succeeded))) succeeded = false;
    if (this.canceling) this.failureReason = 'job_canceled';
    else if (!succeeded) this.failureReason ??= 'script_failure';
    this.append(succeeded && !this.canceling ? 'Job succeeded\n' : 'ERROR: Job failed\n');
    const finalUpdate = this.aborted ? await this.reportAbort() : await this.finish(succeeded && !this.canceling ? 'success' : 'failed');
    return {
      state: this.aborted || this.canceling ? 'canceled' : succeeded ? 'success' : 'failed',
      gracefullyCanceled: this.canceling,
      afterScriptRan: this.afterScriptRan,
      log: this.log.toString('utf8'),
      patches: this.patches,
      puts: this.puts,
      downloaded: this.downloaded,
      uploads: this.uploads,
      finalUpdate,
    };
  }

  private append(text: string): void {
    this.log = Buffer.concat([this.log, Buffer.from(text, 'utf8')]);
  }

  private async downloadDependencies(): Promise<boolean> {
    for (const dependency of this.job.dependencies) {
      if (dependency.artifacts_file.filename === '') continue;
      let body: Buffer | undefined;
      for (let attempt = 1; attempt <= ARTIFACTS_ATTEMPTS && !body; attempt++) {
        const reply = await this.runner.downloadArtifacts(dependency, attempt === 1);
        if (reply.status === 200) body = reply.body;
        else if ([401, 403, 404].includes(reply.status)) break;
      }
      if (!body) {
        this.failureReason = 'script_failure';
        this.append(`ERROR: Downloading artifacts of ${dependency.name} failed\n`);
        return false;
      }
      this.downloaded[dependency.name] = await unzipToMap(body);
    }
    return true;
  }

  /** The script step: one log update per tick; stops at an abort or a graceful cancel. */
  private async runScript(): Promise<boolean> {
    const output = this.script.output ?? [];
    for (let tick = 0; tick < output.length; tick++) {
      await this.script.beforeTick?.(tick);
      const text = output[tick] ?? '';
      if (text === '') await this.keepAlive();
      else {
        this.append(text);
        await this.sendLog();
      }
      if (this.aborted || this.canceling) return false;
    }
    return this.script.result !== 'failed';
  }

  /** The after_script step (`when: always`), which a graceful cancel still runs. */
  private async runAfterScript(): Promise<void> {
    const step = this.job.steps.find((candidate) => candidate.name === 'after_script');
    if (!step) return;
    this.afterScriptRan = true;
    this.append(`Running after_script\n${step.script.map((line) => `$ ${line}\n`).join('')}${this.script.afterScriptOutput ?? ''}`);
    await this.sendLog();
  }

  private async uploadArtifacts(succeeded: boolean): Promise<boolean> {
    const files = this.script.artifacts;
    for (const artifact of this.job.artifacts) {
      const when = artifact.when || 'on_success';
      if (!(when === 'always' || (when === 'on_success') === succeeded)) continue;
      if (!files || Object.keys(files).length === 0) continue;
      let uploaded = false;
      for (let attempt = 1; attempt <= ARTIFACTS_ATTEMPTS && !uploaded; attempt++) {
        const result = await this.runner.uploadArtifacts(this.job, artifact, files);
        this.uploads.push(result);
        uploaded = result.status === 201;
        if (result.status === 403 || result.status === 413) break;
      }
      if (!uploaded) {
        this.failureReason = 'script_failure';
        return false;
      }
    }
    return true;
  }

  /** A keep-alive PUT (`touchJob`): state running with the log's checksum and size. */
  private async keepAlive(): Promise<void> {
    const reply = await this.put('running', false);
    this.observe(classifyUpdateReply(reply.status, headerValue(reply.headers, 'job-status')), reply);
  }

  /** Sends what is not acknowledged yet; after a 416, once more from the server's offset after one interval. */
  private async sendLog(): Promise<V4UpdateState> {
    let state: V4UpdateState = 'succeeded';
    for (let attempt = 0; attempt < 2 && this.sentOffset < this.log.length; attempt++) {
      if (attempt > 0) await this.sleepInterval();
      const offset = this.sentOffset;
      const chunk = this.log.subarray(offset);
      await this.script.beforePatch?.(offset, chunk);
      const reply = await this.runner.patchTrace(this.job, offset, chunk);
      const jobStatus = headerValue(reply.headers, 'job-status');
      const serverRange = headerValue(reply.headers, 'range');
      this.patches.push({ range: `${offset}-${offset + chunk.length - 1}`, status: reply.status, ...(jobStatus ? { jobStatus } : {}), ...(serverRange ? { serverRange } : {}) });
      state = classifyPatchReply(reply.status, jobStatus);
      if (state === 'succeeded') this.sentOffset = offset + chunk.length;
      if (state === 'range-mismatch') this.sentOffset = offsetAfterRangeMismatch(serverRange);
      this.observe(state, reply);
      if (state !== 'range-mismatch') break;
    }
    return state;
  }

  /** What every PATCH and PUT reply may say besides its status: the interval, a graceful or hard cancel. */
  private observe(state: V4UpdateState, reply: HttpReply): void {
    const interval = updateIntervalSeconds(headerValue(reply.headers, 'x-gitlab-trace-update-interval'));
    if (interval !== undefined) this.intervalSeconds = interval;
    if (headerValue(reply.headers, 'job-status') === 'canceling') this.canceling = true;
    if (state === 'abort') this.aborted = true;
  }

  /** The final sequence (§3.3): flush the log, then PUT the state until 200 (202: again after the interval). */
  private async finish(state: 'success' | 'failed'): Promise<JobRunResult['finalUpdate']> {
    const failureReason = state === 'failed' ? supportedFailureReason(this.failureReason ?? 'script_failure', this.job.features.failure_reasons) : undefined;
    for (let attempt = 1; attempt <= this.runner.settings.maxFinalUpdateAttempts; attempt++) {
      if ((await this.sendLog()) === 'abort') return { outcome: 'aborted', attempts: attempt };
      const reply = await this.put(state, true, failureReason);
      const outcome = classifyUpdateReply(reply.status, headerValue(reply.headers, 'job-status'));
      const interval = updateIntervalSeconds(headerValue(reply.headers, 'x-gitlab-trace-update-interval'));
      if (interval !== undefined) this.intervalSeconds = interval;
      const reported = failureReason ? { failureReason } : {};
      if (outcome === 'succeeded') return { outcome: 'ok', attempts: attempt, ...reported };
      // An abort answer (403, or Job-Status canceled as after a graceful cancel) ends the final update too (§3.4).
      if (outcome === 'abort' || outcome === 'not-found') return { outcome: 'aborted', attempts: attempt, ...reported };
      if (outcome === 'trace-validation-failed') this.sentOffset = 0;
      await this.sleepInterval();
    }
    return { outcome: 'gave-up', attempts: this.runner.settings.maxFinalUpdateAttempts };
  }

  /** After an abort the runner still sends `state: failed` once; the server's 403 is the end (§3.4). */
  private async reportAbort(): Promise<JobRunResult['finalUpdate']> {
    const failureReason = supportedFailureReason('job_canceled', this.job.features.failure_reasons);
    await this.put('failed', true, failureReason);
    return { outcome: 'aborted', attempts: 1, failureReason };
  }

  private async put(state: string, final: boolean, failureReason?: string): Promise<HttpReply> {
    const update: JsonObject = { state, output: { checksum: logChecksum(this.log), bytesize: this.log.length } };
    if (failureReason) update['failure_reason'] = failureReason;
    if (final && state === 'failed' && this.script.exitCode) update['exit_code'] = this.script.exitCode;
    const reply = await this.runner.updateJob(this.job, update);
    const jobStatus = headerValue(reply.headers, 'job-status');
    this.puts.push({ state, status: reply.status, final, ...(jobStatus ? { jobStatus } : {}) });
    return reply;
  }

  private sleepInterval(): Promise<void> {
    return sleep(this.intervalSeconds * this.runner.settings.secondMs);
  }
}
