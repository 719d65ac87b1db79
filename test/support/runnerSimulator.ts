// A protocol-faithful simulator of gitlab-ci-multi-runner 1.11.5 (shell executor) as an HTTP client of
// the legacy /ci/api/v1 API. Black-box tests drive it against our server (and a Prism mock) to prove
// that a real runner would work. Everything it sends and how it reads every reply follows
// /work/shared/reference/runner-protocol.md; section numbers below refer to that document.
//
// Where the real runner is lenient but a server bug would silently lose a build (wrong Content-Type,
// a JSON type mismatch, a 416 without a usable Range header), the simulator throws a
// RunnerProtocolError so the test fails loudly instead.
import type { OutgoingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  RunnerProtocolError,
  goBool,
  goField,
  goInt,
  goMap,
  goQueryEscape,
  goSlice,
  goString,
  goStruct,
  typeMismatch,
  isJsonObject,
  goJsonStringify,
  type JsonObject,
} from './goJson.js';
import { GoHttpClient, contentStream, headerValue, multipartBoundary, multipartStream, type ArtifactsContent, type ExchangeRecord, type HttpReply, type UploadResult } from './goHttp.js';
import { type FileContents, unzipToMap } from './zip.js';

export { RunnerProtocolError, goJsonStringify, goQueryEscape, type RunnerErrorKind, type JsonObject } from './goJson.js';
export type { ArtifactsContent, ExchangeRecord, HttpReply, UploadResult } from './goHttp.js';
// ---------------------------------------------------------------------------------------------------
// Identity of the simulated runner
// ---------------------------------------------------------------------------------------------------

export const RUNNER_NAME = 'gitlab-ci-multi-runner';
export const RUNNER_VERSION = '1.11.5';
export const RUNNER_REVISION = 'cbfcb5c8';
/** Sent only on requests that carry a body (section 1). */
export const RUNNER_USER_AGENT = 'gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)';
/** What Go's http.Client sends when the runner sets no User-Agent (the artifacts GET). */
export const GO_DEFAULT_USER_AGENT = 'Go-http-client/1.1';

/** Go struct `FeaturesInfo`; the artifacts flag is serialised under the key `features` (a runner bug). */
export interface FeaturesInfo {
  variables: boolean;
  image: boolean;
  services: boolean;
  features: boolean;
  cache: boolean;
}

/** Go struct `VersionInfo`, keys in struct order (Go marshals fields in declaration order). */
export interface VersionInfo {
  name: string;
  version: string;
  revision: string;
  platform: string;
  architecture: string;
  executor?: string;
  features: FeaturesInfo;
}

/** `register` passes an empty config: no executor, every feature false (section 2.1). */
export function registerInfo(): VersionInfo {
  return {
    name: RUNNER_NAME,
    version: RUNNER_VERSION,
    revision: RUNNER_REVISION,
    platform: 'linux',
    architecture: 'amd64',
    features: { variables: false, image: false, services: false, features: false, cache: false },
  };
}

/** Shell executor (variables) with the bash shell (artifacts, cache), as sent by `run`/`run-single`. */
export function shellExecutorInfo(): VersionInfo {
  return {
    name: RUNNER_NAME,
    version: RUNNER_VERSION,
    revision: RUNNER_REVISION,
    platform: 'linux',
    architecture: 'amd64',
    executor: 'shell',
    features: { variables: true, image: false, services: false, features: true, cache: true },
  };
}


/** Go's filepath.Base on Unix, used for the artifacts file name. */
export function goBase(path: string): string {
  if (path === '') return '.';
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** v1.6+ fixCIURL: strip trailing slashes, add `/ci` if missing, then `/api/v1/` (section 1). */
export function runnerApiBase(url: string): URL {
  let fixed = url.replace(/\/+$/, '');
  if (!fixed.endsWith('/ci')) fixed += '/ci';
  let parsed: URL;
  try {
    parsed = new URL(`${fixed}/api/v1/`);
  } catch {
    throw new RunnerProtocolError(`invalid runner URL: ${url}`, 'url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new RunnerProtocolError(`only http and https URLs are allowed: ${url}`, 'url');
  }
  return parsed;
}


// ---------------------------------------------------------------------------------------------------
// The build payload (section 4)
// ---------------------------------------------------------------------------------------------------

export interface BuildVariable {
  key: string;
  value: string;
  public: boolean;
  file: boolean;
}

export interface ArtifactsFile {
  filename: string;
  size: number;
}

export interface DependencyBuild {
  id: number;
  token: string;
  name: string;
  stage: string;
  ref: string;
  sha: string;
  tag: boolean;
  artifacts_file: ArtifactsFile | null;
}

export interface RegistryCredential {
  type: string;
  url: string;
  username: string;
  password: string;
}

/** GetBuildResponse with Go zero values filled in for null or missing fields. */
export interface BuildPayload {
  id: number;
  project_id: number;
  commands: string;
  repo_url: string;
  sha: string;
  ref: string;
  before_sha: string;
  allow_git_fetch: boolean;
  timeout: number;
  variables: BuildVariable[];
  options: JsonObject;
  /** The build token. */
  token: string;
  name: string;
  stage: string;
  tag: boolean;
  depends_on_builds: DependencyBuild[];
  credentials: RegistryCredential[];
  /** The reply exactly as parsed, unknown fields included, for tests that inspect them. */
  raw: JsonObject;
}

function decodeVariable(value: unknown, path: string): BuildVariable {
  const o = goStruct(value, path);
  return {
    key: goString(goField(o, 'key'), `${path}.key`),
    value: goString(goField(o, 'value'), `${path}.value`),
    public: goBool(goField(o, 'public'), `${path}.public`),
    file: goBool(goField(o, 'file'), `${path}.file`),
  };
}

function decodeArtifactsFile(value: unknown, path: string): ArtifactsFile | null {
  // A pointer field (*BuildArtifacts): null stays nil.
  if (value === null || value === undefined) return null;
  const o = goStruct(value, path);
  return {
    filename: goString(goField(o, 'filename'), `${path}.filename`),
    size: goInt(goField(o, 'size'), `${path}.size`),
  };
}

function decodeDependency(value: unknown, path: string): DependencyBuild {
  const o = goStruct(value, path);
  return {
    id: goInt(goField(o, 'id'), `${path}.id`),
    token: goString(goField(o, 'token'), `${path}.token`),
    name: goString(goField(o, 'name'), `${path}.name`),
    stage: goString(goField(o, 'stage'), `${path}.stage`),
    ref: goString(goField(o, 'ref'), `${path}.ref`),
    sha: goString(goField(o, 'sha'), `${path}.sha`),
    tag: goBool(goField(o, 'tag'), `${path}.tag`),
    artifacts_file: decodeArtifactsFile(goField(o, 'artifacts_file'), `${path}.artifacts_file`),
  };
}

function decodeCredential(value: unknown, path: string): RegistryCredential {
  const o = goStruct(value, path);
  return {
    type: goString(goField(o, 'type'), `${path}.type`),
    url: goString(goField(o, 'url'), `${path}.url`),
    username: goString(goField(o, 'username'), `${path}.username`),
    password: goString(goField(o, 'password'), `${path}.password`),
  };
}

/**
 * Decodes a builds/register reply like the runner's typed Go structs: any JSON type mismatch throws
 * (the real runner would log "failed" and lose the build). Also rejects what decodes but cannot run:
 * id <= 0 (artifacts subcommands refuse it) and sha shorter than 8 bytes (`sha[0:8]` panics).
 */
export function decodeBuildPayload(json: unknown): BuildPayload {
  if (!isJsonObject(json)) throw typeMismatch(json, 'common.GetBuildResponse', '$');
  const field = (name: string): unknown => goField(json, name);
  const build: BuildPayload = {
    id: goInt(field('id'), '$.id'),
    project_id: goInt(field('project_id'), '$.project_id'),
    commands: goString(field('commands'), '$.commands'),
    repo_url: goString(field('repo_url'), '$.repo_url'),
    sha: goString(field('sha'), '$.sha'),
    ref: goString(field('ref'), '$.ref'),
    before_sha: goString(field('before_sha'), '$.before_sha'),
    allow_git_fetch: goBool(field('allow_git_fetch'), '$.allow_git_fetch'),
    timeout: goInt(field('timeout'), '$.timeout'),
    variables: goSlice(field('variables'), '$.variables', decodeVariable),
    options: goMap(field('options'), '$.options'),
    token: goString(field('token'), '$.token'),
    name: goString(field('name'), '$.name'),
    stage: goString(field('stage'), '$.stage'),
    tag: goBool(field('tag'), '$.tag'),
    depends_on_builds: goSlice(field('depends_on_builds'), '$.depends_on_builds', decodeDependency),
    credentials: goSlice(field('credentials'), '$.credentials', decodeCredential),
    raw: json,
  };
  if (build.id <= 0) {
    throw new RunnerProtocolError(`build id must be > 0, got ${build.id}`, 'payload');
  }
  if (Buffer.byteLength(build.sha) < 8) {
    throw new RunnerProtocolError(`sha must have at least 8 characters (runner slices sha[0:8]), got "${build.sha}"`, 'payload');
  }
  return build;
}

/** `options.artifacts`, decoded when the upload stage is generated (section 4). */
export interface ArtifactsOptions {
  paths: string[];
  untracked: boolean;
  name: string;
  when: string;
  expire_in: string;
}

/** Returns null when there is no `artifacts` key; throws when its shape is wrong (the stage fails). */
export function decodeArtifactsOptions(options: JsonObject): ArtifactsOptions | null {
  const value = options['artifacts'];
  if (value === null || value === undefined) return null;
  const o = goStruct(value, '$.options.artifacts');
  return {
    paths: goSlice(goField(o, 'paths'), '$.options.artifacts.paths', goString),
    untracked: goBool(goField(o, 'untracked'), '$.options.artifacts.untracked'),
    name: goString(goField(o, 'name'), '$.options.artifacts.name'),
    when: goString(goField(o, 'when'), '$.options.artifacts.when'),
    expire_in: goString(goField(o, 'expire_in'), '$.options.artifacts.expire_in'),
  };
}

/** `options.dependencies`: null means "all dependencies", [] means none (section 2.8). */
export function decodeDependencyNames(options: JsonObject): string[] | null {
  const value = options['dependencies'];
  if (value === null || value === undefined) return null;
  return goSlice(value, '$.options.dependencies', goString);
}

/** Go's ArtifactWhen.OnSuccess / OnFailure; "always" uploads in both cases. */
export function shouldUploadArtifacts(artifacts: ArtifactsOptions | null, buildSucceeded: boolean): boolean {
  if (artifacts === null) return false;
  if (artifacts.paths.length === 0 && !artifacts.untracked) return false;
  const when = artifacts.when;
  if (buildSucceeded) return when === '' || when === 'on_success' || when === 'always';
  return when === 'on_failure' || when === 'always';
}

/** Whether a dependency's artifacts are downloaded before the script (section 2.8). */
export function isDownloadedDependency(dependency: DependencyBuild, names: string[] | null): boolean {
  if (dependency.artifacts_file === null || dependency.artifacts_file.filename === '') return false;
  return names === null || names.includes(dependency.name);
}

export interface UploadOptions {
  /** artifacts:name; the part's filename is `basename(name).zip`, default `artifacts.zip`. */
  name?: string;
  /** artifacts:expire_in, sent as `?expire_in=` (spaces as `+`); absent gives the empty query `?`. */
  expireIn?: string;
}


// ---------------------------------------------------------------------------------------------------
// Trace patch replies (section 2.6, v1.11.5 patch_response.go)
// ---------------------------------------------------------------------------------------------------

export interface PatchReply extends HttpReply {
  /** `Build-Status` header, if any. */
  buildStatus: string | undefined;
  /** `Range` header, if any. */
  range: string | undefined;
}

export type UpdateState = 'succeeded' | 'abort' | 'not-found' | 'range-mismatch' | 'failed';

/** How PatchTrace classifies a reply; Build-Status and 403 are checked before the status code. */
export function classifyPatchReply(reply: PatchReply): UpdateState {
  if (reply.buildStatus === 'canceled' || reply.buildStatus === 'failed' || reply.status === 403) return 'abort';
  if (reply.status === 202) return 'succeeded';
  if (reply.status === 404) return 'not-found';
  if (reply.status === 416) return 'range-mismatch';
  return 'failed';
}

/**
 * The server's trace length from a 416 `Range` header: `strings.Split(range, "-")[1]` then Atoi
 * (an unparsable number reads as 0). A missing header or one without `-` makes the real runner panic,
 * so that is a server bug: throw.
 */
export function offsetFromRangeHeader(range: string | undefined): number {
  const parts = (range ?? '').split('-');
  const end = parts[1];
  if (end === undefined) {
    throw new RunnerProtocolError(
      `416 reply with Range header ${JSON.stringify(range ?? null)}: the real runner panics (index out of range)`,
      'protocol',
      416,
    );
  }
  const offset = /^[+-]?\d+$/.test(end) ? Number.parseInt(end, 10) : 0;
  if (offset < 0) {
    throw new RunnerProtocolError(`416 reply with negative Range end ${JSON.stringify(range)}: the real runner panics`, 'protocol', 416);
  }
  return offset;
}

/** How UpdateBuild classifies a PUT builds/:id.json reply: exactly 200 is ok; 403 and 404 abort. */
export function classifyUpdateReply(status: number | null): UpdateState {
  if (status === 200) return 'succeeded';
  if (status === 403 || status === 404) return 'abort';
  return 'failed';
}

// ---------------------------------------------------------------------------------------------------
// Running a build
// ---------------------------------------------------------------------------------------------------

/** What the "job" does. Every field is optional: the default is a successful job with no output. */
export interface BuildScript {
  /**
   * Trace output, one element per watcher tick (every 3 s in the real runner). Each tick appends its
   * chunk and sends everything not yet acknowledged in one PATCH. `''` means "nothing new": an empty
   * keep-alive PATCH `N-N`, like the runner's forced send after 30 s.
   */
  output?: string[];
  /** Result of the user script when nothing aborted the build. Default 'success'. */
  result?: 'success' | 'failed';
  /**
   * Files the job produced. Uploaded only when `options.artifacts` asks for it (when/paths rules).
   * `name` and `expireIn` override `options.artifacts.name` / `expire_in`.
   */
  artifacts?: { files: FileContents; name?: string; expireIn?: string };
  /** Appended after the last tick and sent only in the final PUT (like the runner's "Job succeeded" line). */
  finalOutput?: string;
  /** The build ends before the first tick: no running PUT and no PATCH, only the final PUT (section 3). */
  shorterThanOneTick?: boolean;
  /** Awaited before tick `tick` (0-based): e.g. cancel the build on the server between ticks. */
  beforeTick?: (tick: number) => Promise<void> | void;
  /** Awaited after tick `tick` was sent and answered. */
  afterTick?: (tick: number, state: UpdateState) => Promise<void> | void;
}

export interface PatchRecord {
  /** The Content-Range sent, e.g. `0-428`. */
  range: string;
  /** Reply status, or 0 when the request failed at the network level. */
  status: number;
  buildStatus?: string;
  serverRange?: string;
}

export interface PutRecord {
  state: string;
  /** Byte length of the trace sent, or null when the PUT carried no trace. */
  traceBytes: number | null;
  /** Reply status, or 0 when the request failed at the network level. */
  status: number;
  final: boolean;
}

export type FinalUpdateOutcome = 'ok' | 'aborted' | 'gave-up';

export interface BuildRunResult {
  /** 'canceled' when the coordinator aborted the build (reported to it as 'failed'). */
  state: 'success' | 'failed' | 'canceled';
  /** The state sent in the final PUT. */
  reportedState: 'success' | 'failed';
  /** The complete local trace, as sent in the final PUT. */
  trace: string;
  patches: PatchRecord[];
  /** Every PUT builds/:id.json of this build, in order (running, full-trace fallbacks, final attempts). */
  puts: PutRecord[];
  /** True once a 404 on PATCH switched the build to full-trace PUTs. */
  fullTraceMode: boolean;
  /** Dependency name → files of its unzipped artifacts. */
  downloaded: Record<string, Record<string, Buffer>>;
  /** Every artifacts upload attempt (empty when nothing was uploaded). */
  uploads: UploadResult[];
  finalUpdate: { outcome: FinalUpdateOutcome; attempts: number; status: number | null };
  /** Why the build failed or was canceled, in words. */
  failureReason?: string;
}

export interface RunnerSimulatorOptions {
  /** Delay between final PUT retries (runner: UpdateRetryInterval = 3 s). */
  updateRetryDelayMs?: number;
  /** The real runner retries the final PUT forever; the simulator gives up after this many attempts. */
  maxFinalUpdateAttempts?: number;
  /** Delay between artifacts upload/download retries (runner: 1 s). */
  artifactsRetryDelayMs?: number;
  /** Delay between polls in pollUntilBuild (runner: CheckInterval = 3 s). */
  pollIntervalMs?: number;
  /** Per-request timeout. The real runner has none; 0 disables it. Default 60 s so tests cannot hang forever. */
  requestTimeoutMs?: number;
}

export interface RegisterOptions {
  description?: string;
  tagList?: string[];
  /** Always sent (v1.10+); default false like the runner's flag. */
  runUntagged?: boolean;
  /** Not sent by 1.11.5; only included when given, for servers that accept it (8.15 E8). */
  locked?: boolean;
}

/** Artifacts upload and download retry: 2 more attempts after the first (sections 2.7, 2.8). */
const ARTIFACTS_ATTEMPTS = 3;

export class RunnerSimulator {
  readonly apiBase: URL;
  /** Every request sent, in order. */
  readonly exchanges: ExchangeRecord[];
  /** The JSON reply of runners/register.json when this simulator was created by `register`. */
  registration: JsonObject | undefined;
  private lastUpdateValue: string | undefined;
  private readonly http: GoHttpClient;
  private readonly settings: Required<RunnerSimulatorOptions>;

  constructor(
    baseUrl: string,
    readonly token: string,
    options: RunnerSimulatorOptions = {},
  ) {
    this.apiBase = runnerApiBase(baseUrl);
    this.settings = {
      updateRetryDelayMs: options.updateRetryDelayMs ?? 3000,
      maxFinalUpdateAttempts: options.maxFinalUpdateAttempts ?? 20,
      artifactsRetryDelayMs: options.artifactsRetryDelayMs ?? 1000,
      pollIntervalMs: options.pollIntervalMs ?? 3000,
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
    };
    this.http = new GoHttpClient(this.apiBase, this.settings.requestTimeoutMs);
    this.exchanges = this.http.exchanges;
  }

  /** The value of the last `X-GitLab-Last-Update` header seen on a JSON call. */
  get lastUpdate(): string | undefined {
    return this.lastUpdateValue;
  }

  /** Closes kept-alive connections so the test process can exit. */
  close(): void {
    this.http.close();
  }

  // ----- runner registration (sections 2.1 – 2.3) -----

  /** `gitlab-ci-multi-runner register`: POST runners/register.json; throws unless 201 + JSON token. */
  static async register(
    baseUrl: string,
    registrationToken: string,
    options: RegisterOptions = {},
    simulatorOptions: RunnerSimulatorOptions = {},
  ): Promise<RunnerSimulator> {
    const anonymous = new RunnerSimulator(baseUrl, '', simulatorOptions);
    try {
      const reply = await anonymous.sendJson('POST', 'runners/register.json', registerBody(registrationToken, options), {
        accept: true,
      });
      const json = expectJsonReply(reply, 201, 'runners/register.json');
      const token = goString(goField(goStruct(json, '$'), 'token'), '$.token');
      if (token === '') throw new RunnerProtocolError('runners/register.json: 201 reply without a token', 'payload', 201);
      const runner = new RunnerSimulator(baseUrl, token, simulatorOptions);
      runner.registration = goStruct(json, '$');
      return runner;
    } finally {
      anonymous.close();
    }
  }

  /** `verify`: PUT builds/-1. 404 = alive, 403 = removed, other statuses still alive, network error not. */
  async verify(): Promise<boolean> {
    try {
      const reply = await this.sendJson('PUT', 'builds/-1', { token: this.token });
      return reply.status !== 403;
    } catch (error) {
      if (error instanceof RunnerProtocolError && error.kind === 'network') return false;
      throw error;
    }
  }

  /** `unregister`: DELETE runners/delete with a JSON body. Only exactly 200 counts as success. */
  async unregister(): Promise<boolean> {
    try {
      const reply = await this.sendJson('DELETE', 'runners/delete', { token: this.token });
      return reply.status === 200;
    } catch (error) {
      if (error instanceof RunnerProtocolError && error.kind === 'network') return false;
      throw error;
    }
  }

  // ----- builds (sections 2.4, 2.5) -----

  /** POST builds/register.json: the build on 201, null on 204/404; throws on 403 and anything else. */
  async requestBuild(): Promise<BuildPayload | null> {
    const body: JsonObject = { info: shellExecutorInfo(), token: this.token };
    if (this.lastUpdateValue !== undefined) body['last_update'] = this.lastUpdateValue;
    const reply = await this.sendJson('POST', 'builds/register.json', body, { accept: true });
    if (reply.status === 204 || reply.status === 404) return null;
    if (reply.status === 403) {
      throw new RunnerProtocolError('builds/register.json: 403 forbidden (runner unhealthy)', 'status', 403, reply.body.toString());
    }
    return decodeBuildPayload(expectJsonReply(reply, 201, 'builds/register.json'));
  }

  /** Polls builds/register.json every `pollIntervalMs` until a build arrives; throws after `timeoutMs`. */
  async pollUntilBuild(timeoutMs: number): Promise<BuildPayload> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const build = await this.requestBuild();
      if (build !== null) return build;
      if (Date.now() + this.settings.pollIntervalMs > deadline) {
        throw new Error(`no build received within ${timeoutMs} ms`);
      }
      await sleep(this.settings.pollIntervalMs);
    }
  }

  /**
   * PUT builds/:id.json with `{info, token, state?, trace?}` in Go field order. `trace` is left out
   * when undefined (a state-only update); the token defaults to this runner's token.
   */
  async putBuild(buildId: number | string, update: { state?: string; trace?: string; token?: string }): Promise<HttpReply> {
    const body: JsonObject = { info: shellExecutorInfo(), token: update.token ?? this.token };
    if (update.state !== undefined && update.state !== '') body['state'] = update.state;
    if (update.trace !== undefined) body['trace'] = update.trace;
    return this.sendJson('PUT', `builds/${buildId}.json`, body);
  }

  // ----- trace (section 2.6) -----

  /**
   * One PATCH builds/:id/trace.txt carrying `bytes` at `offset`. `Content-Range` is `offset-limit`
   * with an exclusive limit; pass `contentRange` to send a different value, or null to omit it.
   */
  async patchTrace(
    buildId: number | string,
    buildToken: string,
    offset: number,
    bytes: Buffer | string,
    options: { contentRange?: string | null } = {},
  ): Promise<PatchReply> {
    const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    const contentRange = options.contentRange === undefined ? `${offset}-${offset + body.length}` : options.contentRange;
    const headers: OutgoingHttpHeaders = {
      'User-Agent': RUNNER_USER_AGENT,
      'Content-Type': 'text/plain',
      'Build-Token': buildToken,
    };
    if (contentRange !== null) headers['Content-Range'] = contentRange;
    const reply = await this.send('PATCH', `builds/${buildId}/trace.txt`, headers, body);
    return {
      ...reply,
      buildStatus: headerValue(reply.headers, 'build-status'),
      range: headerValue(reply.headers, 'range'),
    };
  }

  // ----- artifacts (sections 2.7, 2.8) -----

  /**
   * One artifacts upload, exactly like the `artifacts-uploader` subcommand: POST
   * builds/:id/artifacts?[expire_in=…], chunked multipart with one `file` part, no Content-Length.
   * Never throws on transport errors: an early 413 followed by a reset is captured in the result.
   */
  async uploadArtifacts(
    buildId: number | string,
    buildToken: string,
    content: ArtifactsContent,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    const query = options.expireIn ? `expire_in=${goQueryEscape(options.expireIn)}` : '';
    const path = `builds/${buildId}/artifacts?${query}`;
    const boundary = multipartBoundary();
    const filename = `${goBase(options.name || 'artifacts')}.zip`;
    const headers: OutgoingHttpHeaders = {
      'User-Agent': RUNNER_USER_AGENT,
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'Build-Token': buildToken,
      'Transfer-Encoding': 'chunked',
    };
    const body = multipartStream(boundary, filename, contentStream(content));
    return this.http.upload('POST', path, headers, body);
  }

  /** One artifacts download: GET builds/:id/artifacts with the build's own token, no body, Go's default User-Agent. */
  async downloadArtifacts(buildId: number | string, buildToken: string): Promise<HttpReply> {
    return this.send('GET', `builds/${buildId}/artifacts`, { 'User-Agent': GO_DEFAULT_USER_AGENT, 'Build-Token': buildToken });
  }

  // ----- a whole build (section 3) -----

  /** Runs one build the way the runner does it and reports everything it sent and received. */
  async runBuild(build: BuildPayload, script: BuildScript = {}): Promise<BuildRunResult> {
    return new BuildExecution(this, build, script, this.settings).run();
  }

  /** @internal Artifacts download with the downloader's retry rules: 403/404 final, others retried. */
  async downloadArtifactsWithRetry(buildId: number, buildToken: string): Promise<{ ok: true; body: Buffer } | { ok: false; reason: string }> {
    let reason = '';
    for (let attempt = 1; attempt <= ARTIFACTS_ATTEMPTS; attempt++) {
      if (attempt > 1) await sleep(this.settings.artifactsRetryDelayMs);
      try {
        const reply = await this.downloadArtifacts(buildId, buildToken);
        if (reply.status === 200) return { ok: true, body: reply.body };
        reason = `download of build ${buildId} artifacts: ${reply.status}`;
        if (reply.status === 403 || reply.status === 404) return { ok: false, reason };
      } catch (error) {
        if (!(error instanceof RunnerProtocolError && error.kind === 'network')) throw error;
        reason = `download of build ${buildId} artifacts: ${error.message}`;
      }
    }
    return { ok: false, reason };
  }

  // ----- low-level requests -----

  /**
   * A JSON call as `doJSON` makes it: Go-encoded body, `Content-Type: application/json`, the runner
   * User-Agent, and `Accept: application/json` only when the runner reads the reply (`accept`).
   */
  async sendJson(method: string, relativePath: string, body: unknown, options: { accept?: boolean } = {}): Promise<HttpReply> {
    const headers: OutgoingHttpHeaders = {
      'User-Agent': RUNNER_USER_AGENT,
      'Content-Type': 'application/json',
    };
    if (options.accept) headers['Accept'] = 'application/json';
    const reply = await this.send(method, relativePath, headers, Buffer.from(goJsonStringify(body), 'utf8'));
    // v1.9+: remembered from every JSON call and sent back as last_update.
    const lastUpdate = headerValue(reply.headers, 'x-gitlab-last-update');
    if (lastUpdate) this.lastUpdateValue = lastUpdate;
    return reply;
  }

  /** Any request relative to `<url>/ci/api/v1/`, with a buffered body. Throws RunnerProtocolError('network'). */
  send(method: string, relativePath: string, headers: OutgoingHttpHeaders, body?: Buffer): Promise<HttpReply> {
    return this.http.send(method, relativePath, headers, body);
  }
}

function registerBody(registrationToken: string, options: RegisterOptions): JsonObject {
  const body: JsonObject = { info: registerInfo(), token: registrationToken };
  if (options.description) body['description'] = options.description;
  const tags = (options.tagList ?? []).join(',');
  if (tags !== '') body['tag_list'] = tags;
  body['run_untagged'] = options.runUntagged ?? false;
  if (options.locked !== undefined) body['locked'] = options.locked;
  return body;
}

/**
 * doJSON for runners ≤ 1.9.1: the body is read only on the expected status, and then the
 * Content-Type must be exactly `application/json` (a charset parameter is rejected).
 */
function expectJsonReply(reply: HttpReply, expectedStatus: number, what: string): unknown {
  const text = reply.body.toString('utf8');
  if (reply.status !== expectedStatus) {
    throw new RunnerProtocolError(`${what}: expected ${expectedStatus}, got ${reply.status}`, 'status', reply.status, text);
  }
  const contentType = headerValue(reply.headers, 'content-type');
  if (contentType !== 'application/json') {
    throw new RunnerProtocolError(
      `${what}: Server should return application/json, got Content-Type ${JSON.stringify(contentType ?? null)}`,
      'content-type',
      reply.status,
      text,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RunnerProtocolError(`${what}: invalid JSON: ${(error as Error).message}`, 'decode', reply.status, text);
  }
}

// ---------------------------------------------------------------------------------------------------
// One build run: trace watcher ticks, artifacts, final update
// ---------------------------------------------------------------------------------------------------

interface TracePatch {
  offset: number;
  /** Trace length when the patch was made; exclusive. */
  limit: number;
}

class BuildExecution {
  private trace = Buffer.alloc(0);
  private sentOffset = 0;
  private incremental = true;
  private canceled = false;
  private failureReason: string | undefined;
  private readonly patches: PatchRecord[] = [];
  private readonly puts: PutRecord[] = [];
  private readonly uploads: UploadResult[] = [];
  private readonly downloaded: Record<string, Record<string, Buffer>> = {};

  constructor(
    private readonly runner: RunnerSimulator,
    private readonly build: BuildPayload,
    private readonly script: BuildScript,
    private readonly settings: Required<RunnerSimulatorOptions>,
  ) {}

  async run(): Promise<BuildRunResult> {
    const ticking = !this.script.shorterThanOneTick;
    if (ticking) await this.sendRunningState();
    let succeeded = false;
    if (await this.downloadDependencies()) {
      await this.runUserScript(ticking);
      succeeded = !this.canceled && this.script.result !== 'failed';
      if (!this.canceled && !succeeded) this.failureReason ??= 'script failed';
    }
    // An aborted build is killed: no after-script stages run.
    if (!this.canceled && !(await this.uploadArtifactsIfNeeded(succeeded))) succeeded = false;
    this.appendTrace(this.script.finalOutput ?? '');
    const reportedState = succeeded ? 'success' : 'failed';
    const finalUpdate = await this.sendFinalUpdate(reportedState);
    return {
      state: this.canceled ? 'canceled' : reportedState,
      reportedState,
      trace: this.trace.toString('utf8'),
      patches: this.patches,
      puts: this.puts,
      fullTraceMode: !this.incremental,
      downloaded: this.downloaded,
      uploads: this.uploads,
      finalUpdate,
      ...(this.failureReason !== undefined ? { failureReason: this.failureReason } : {}),
    };
  }

  private appendTrace(text: string): void {
    if (text !== '') this.trace = Buffer.concat([this.trace, Buffer.from(text, 'utf8')]);
  }

  // ----- stages -----

  /** The first state change: a state-only PUT whose answer is ignored in incremental mode. */
  private async sendRunningState(): Promise<void> {
    await this.put('running', undefined, false);
  }

  private async downloadDependencies(): Promise<boolean> {
    let names: string[] | null;
    try {
      names = decodeDependencyNames(this.build.options);
    } catch (error) {
      return this.fail(`options.dependencies: ${(error as Error).message}`);
    }
    for (const dependency of this.build.depends_on_builds) {
      if (!isDownloadedDependency(dependency, names)) continue;
      if (dependency.id <= 0) return this.fail(`dependency ${dependency.name} has id ${dependency.id}`);
      const download = await this.runner.downloadArtifactsWithRetry(dependency.id, dependency.token);
      if (!download.ok) return this.fail(download.reason);
      try {
        this.downloaded[dependency.name] = await unzipToMap(download.body);
      } catch (error) {
        return this.fail(`artifacts of ${dependency.name} are not a valid zip: ${(error as Error).message}`);
      }
    }
    return true;
  }

  private async runUserScript(ticking: boolean): Promise<void> {
    const output = this.script.output ?? [];
    for (let tick = 0; tick < output.length; tick++) {
      await this.script.beforeTick?.(tick);
      this.appendTrace(output[tick] ?? '');
      if (!ticking) continue;
      const state = await this.update();
      await this.script.afterTick?.(tick, state);
      if (state === 'abort') {
        this.canceled = true;
        this.failureReason = 'canceled by the coordinator';
        return;
      }
    }
  }

  private async uploadArtifactsIfNeeded(succeeded: boolean): Promise<boolean> {
    let options: ArtifactsOptions | null;
    try {
      options = decodeArtifactsOptions(this.build.options);
    } catch (error) {
      return this.fail(`options.artifacts: ${(error as Error).message}`);
    }
    const produced = this.script.artifacts;
    if (!shouldUploadArtifacts(options, succeeded)) return true;
    // The uploader finds nothing to archive: it logs "No files to upload" and does not fail.
    if (produced === undefined || Object.keys(produced.files).length === 0) return true;
    const uploadOptions: UploadOptions = {
      name: produced.name ?? options?.name ?? '',
      expireIn: produced.expireIn ?? options?.expire_in ?? '',
    };
    for (let attempt = 1; attempt <= ARTIFACTS_ATTEMPTS; attempt++) {
      if (attempt > 1) await sleep(this.settings.artifactsRetryDelayMs);
      const result = await this.runner.uploadArtifacts(this.build.id, this.build.token, { files: produced.files }, uploadOptions);
      this.uploads.push(result);
      if (result.status === 201) return true;
      if (result.status === 403 || result.status === 413) break;
    }
    const last = this.uploads[this.uploads.length - 1];
    return this.fail(`artifacts upload failed: ${last?.status ?? last?.error ?? 'no attempt'}`);
  }

  private fail(reason: string): false {
    this.failureReason ??= reason;
    return false;
  }

  // ----- trace watcher tick (section 3; trace.go update/incrementalUpdate/resendPatch) -----

  private async update(): Promise<UpdateState> {
    if (this.incremental) {
      const state = await this.incrementalUpdate();
      if (state !== 'not-found') return state;
      // 404 on PATCH: incremental traces unsupported, full PUTs for the rest of the build.
      this.incremental = false;
    }
    return this.fullUpdate();
  }

  private async incrementalUpdate(): Promise<UpdateState> {
    const patch: TracePatch = { offset: this.sentOffset, limit: this.trace.length };
    let state = await this.sendPatch(patch);
    if (state === 'not-found') return state;
    if (state === 'range-mismatch') state = await this.resendPatch(patch);
    if (state === 'succeeded') this.sentOffset = patch.limit;
    return state;
  }

  /** After a 416 the patch starts at the server's length; an oversized length gets a full PUT (v1.8+). */
  private async resendPatch(patch: TracePatch): Promise<UpdateState> {
    if (patch.offset > patch.limit) return this.fullUpdate();
    const state = await this.sendPatch(patch);
    return state === 'range-mismatch' ? 'failed' : state;
  }

  /** PatchTrace: sends trace[offset:limit]; on 416 moves the patch's offset to the server's length. */
  private async sendPatch(patch: TracePatch): Promise<UpdateState> {
    const range = `${patch.offset}-${patch.limit}`;
    let reply: PatchReply;
    try {
      reply = await this.runner.patchTrace(this.build.id, this.build.token, patch.offset, this.trace.subarray(patch.offset, patch.limit));
    } catch (error) {
      if (error instanceof RunnerProtocolError && error.kind === 'network') {
        this.patches.push({ range, status: 0 });
        return 'failed';
      }
      throw error;
    }
    this.patches.push({
      range,
      status: reply.status,
      ...(reply.buildStatus !== undefined ? { buildStatus: reply.buildStatus } : {}),
      ...(reply.range !== undefined ? { serverRange: reply.range } : {}),
    });
    const state = classifyPatchReply(reply);
    if (state === 'range-mismatch') patch.offset = offsetFromRangeHeader(reply.range);
    return state;
  }

  /** staleUpdate: PUT with the running state and the whole trace. */
  private async fullUpdate(): Promise<UpdateState> {
    const status = await this.put('running', this.trace.toString('utf8'), false);
    const state = classifyUpdateReply(status);
    if (state === 'succeeded') this.sentOffset = this.trace.length;
    return state;
  }

  /** The final PUT with the complete trace, retried while the answer is "failed" (section 3). */
  private async sendFinalUpdate(state: 'success' | 'failed'): Promise<BuildRunResult['finalUpdate']> {
    const trace = this.trace.toString('utf8');
    let status: number | null = null;
    for (let attempt = 1; attempt <= this.settings.maxFinalUpdateAttempts; attempt++) {
      if (attempt > 1) await sleep(this.settings.updateRetryDelayMs);
      status = await this.put(state, trace, true);
      const outcome = classifyUpdateReply(status);
      if (outcome === 'succeeded') return { outcome: 'ok', attempts: attempt, status };
      if (outcome === 'abort') return { outcome: 'aborted', attempts: attempt, status };
    }
    return { outcome: 'gave-up', attempts: this.settings.maxFinalUpdateAttempts, status };
  }

  /** One PUT builds/:id.json; returns the status, or null on a network error (which Go counts as -1). */
  private async put(state: string, trace: string | undefined, final: boolean): Promise<number | null> {
    const traceBytes = trace === undefined ? null : Buffer.byteLength(trace);
    try {
      const reply = await this.runner.putBuild(this.build.id, { state, ...(trace !== undefined ? { trace } : {}) });
      this.puts.push({ state, traceBytes, status: reply.status, final });
      return reply.status;
    } catch (error) {
      if (!(error instanceof RunnerProtocolError && error.kind === 'network')) throw error;
      this.puts.push({ state, traceBytes, status: 0, final });
      return null;
    }
  }
}