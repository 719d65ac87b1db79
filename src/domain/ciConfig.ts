/**
 * `.gitlab-ci.yml` parsing and validation with GitLab CE 8.x semantics
 * (`Gitlab::Ci::Config` + `Ci::GitlabCiYamlProcessor` of 8.15).
 *
 * Differences from GitLab, on purpose:
 * - every problem is collected (GitLab stops at the first one);
 * - variable values may be numbers/booleans, turned into strings as in later GitLab versions,
 *   numbers as written (`2.10` stays "2.10"; Ruby's to_s would give "2.1");
 * - map keys are names as written: `NO:` is the variable `NO`, not `false` as in Psych;
 * - `only`/`except` also know the 9.x keywords `api`, `pushes`, `web`; a string that starts
 *   with `/` must be a valid `/regexp/flags` (no git ref can start with `/`, so GitLab would
 *   silently never match it);
 * - `environment` (8.9+) is not supported and reported as an unknown key.
 *
 * `parseCiConfig` never throws: whatever the input, it returns a result object.
 */
import { isCollection, isScalar, parseDocument, visit, type CollectionTag, type Document, type ScalarTag, type Tags } from 'yaml';
import { parseDuration } from './duration.js';
import type { components } from '../generated/api.js';

// ---------------------------------------------------------------------------------------------
// Build options as stored on a build and sent to the runner (runner-protocol.md §4).
// The shapes come from openapi.yaml, the contract the runner reads them through.
// ---------------------------------------------------------------------------------------------
type Schemas = components['schemas'];
export type ArtifactsOptions = Schemas['ArtifactsOptions'];
export type ArtifactsWhen = NonNullable<ArtifactsOptions['when']>;
export type CacheOptions = Schemas['CacheOptions'];
/** Only the keys the configuration sets (GitLab's `options.compact`). */
export type BuildOptions = Schemas['BuildOptions'];
// ---------------------------------------------------------------------------------------------

export type JobWhen = 'on_success' | 'on_failure' | 'always' | 'manual';

/** How a pipeline came to be; only `api` can happen in this coordinator (see matchesPattern). */
export type RefPolicyKeyword = 'api' | 'pushes' | 'web' | 'triggers';

/** One `only`/`except` entry. Plain data (no RegExp objects) so a job can be serialized. */
export type RefPattern =
  | { kind: 'branches' }
  | { kind: 'tags' }
  | { kind: 'keyword'; keyword: RefPolicyKeyword }
  | { kind: 'regexp'; source: string; flags: string }
  | { kind: 'name'; name: string };

/** The entries of an `only` or `except` list; never empty (an empty list means no policy). */
export type RefPolicy = RefPattern[];

export interface YamlVariable {
  key: string;
  value: string;
  public: true;
}

export interface CiJob {
  name: string;
  stage: string;
  stageIdx: number;
  /** before_script lines (the job's or the global ones), then script lines, joined with "\n". */
  commands: string;
  options: BuildOptions;
  /** Global variables merged with the job's (the job wins), in declaration order. */
  yamlVariables: YamlVariable[];
  tags: string[];
  when: JobWhen;
  allowFailure: boolean;
  only: RefPolicy | null;
  except: RefPolicy | null;
}

export type CiConfigResult =
  | { valid: true; stages: string[]; jobs: CiJob[]; warnings: string[] }
  | { valid: false; errors: string[]; warnings: string[] };

const DEFAULT_STAGES = ['build', 'test', 'deploy'];
const DEFAULT_JOB_STAGE = 'test';

/** Top-level keys that configure the pipeline; every other visible top-level key is a job. */
const GLOBAL_KEYWORDS: ReadonlySet<string> = new Set([
  'image', 'services', 'stages', 'types', 'before_script', 'after_script', 'variables', 'cache',
]);

const JOB_KEYWORDS: ReadonlySet<string> = new Set([
  'script', 'stage', 'type', 'before_script', 'after_script', 'image', 'services', 'variables',
  'tags', 'artifacts', 'cache', 'dependencies', 'when', 'allow_failure', 'only', 'except',
]);

const ARTIFACTS_KEYWORDS: ReadonlySet<string> = new Set(['paths', 'name', 'untracked', 'when', 'expire_in']);
const CACHE_KEYWORDS: ReadonlySet<string> = new Set(['key', 'paths', 'untracked']);

const JOB_WHEN_VALUES: readonly JobWhen[] = ['on_success', 'on_failure', 'always', 'manual'];
const ARTIFACTS_WHEN_VALUES: readonly ArtifactsWhen[] = ['on_success', 'on_failure', 'always'];
const REF_POLICY_KEYWORDS: readonly RefPolicyKeyword[] = ['api', 'pushes', 'web', 'triggers'];

const VARIABLE_NAME = /^[A-Za-z0-9_]+$/;
/** `/source/flags`; only flags that keep a RegExp stateless and exist in JavaScript. */
const REGEXP_LITERAL = /^\/(.*)\/([a-z]*)$/s;
const ALLOWED_REGEXP_FLAGS = /^[imsu]*$/;

/**
 * Billion-laughs guard: how often one anchor may be used, weighted by the aliases nested in it.
 * The yaml package's default (100) rejects a real config with 101 jobs merging one template;
 * nested expansion (`*a` lists inside `*b` lists ...) still trips it after a few levels.
 */
const MAX_ALIAS_COUNT = 1000;

const MAX_YAML_ERRORS = 10;

/** A YAML mapping after conversion to JS, with only own, enumerable keys. */
type YamlMap = Record<string, unknown>;

/** Collects problems while reading; `path` is GitLab's `jobs:rspec:artifacts`-style key path. */
class Problems {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];

  error(message: string): undefined {
    this.errors.push(message);
    return undefined;
  }

  warn(message: string): void {
    this.warnings.push(message);
  }
}

// =============================================================================================
// Entry point
// =============================================================================================

export function parseCiConfig(yamlText: string): CiConfigResult {
  const problems = new Problems();
  try {
    const result = parseAndValidate(yamlText, problems);
    if (result !== undefined && problems.errors.length === 0) {
      return { valid: true, stages: result.stages, jobs: result.jobs, warnings: problems.warnings };
    }
  } catch (error) {
    // Last-resort guard (e.g. a stack overflow deep inside the YAML library): report, never throw.
    problems.error(`Invalid configuration: ${describeError(error)}`);
  }
  if (problems.errors.length === 0) problems.error('Invalid configuration format');
  return { valid: false, errors: problems.errors, warnings: problems.warnings };
}

function parseAndValidate(yamlText: unknown, problems: Problems): { stages: string[]; jobs: CiJob[] } | undefined {
  if (typeof yamlText !== 'string' || yamlText.trim() === '') {
    return problems.error('Please provide content of .gitlab-ci.yml');
  }
  const root = loadYaml(yamlText, problems);
  if (root === undefined) return undefined;
  if (!isYamlMap(root)) return problems.error('Invalid configuration format');

  const global = readGlobal(root, problems);
  const jobs = readJobs(root, global, problems);
  if (jobs.length === 0) return problems.error('jobs config should contain at least one visible job');
  checkDependencies(jobs, problems);
  return { stages: global.stages, jobs: sortByStage(jobs) };
}

// =============================================================================================
// YAML loading
// =============================================================================================

/** Psych (Ruby's YAML 1.1 parser, used by GitLab) knows only these spellings as booleans. */
const PSYCH_TRUE = /^(?:true|yes|on)$/i;
const PSYCH_FALSE = /^(?:false|no|off)$/i;

/**
 * A YAML number together with the text it was written as. Numbers are only valid as variable
 * values, and there the written text is what the user means: `RUBY_VERSION: 2.10` is "2.10",
 * not "2.1", and `UMASK: 0022` is "0022", not "18". Everywhere else it is simply "not a string".
 */
class YamlNumber {
  constructor(readonly source: string) {}
}

/**
 * YAML 1.1 like Psych, but without the yaml package's extras that Psych does not have or that
 * would produce non-JSON values: `y`/`n` booleans, timestamps (Date), binary, sets and omaps.
 * Numbers resolve to YamlNumber.
 */
function psychLikeTags(tags: Tags): Tags {
  const dropped = /:(?:bool|timestamp|binary|set|omap|pairs)$/;
  const kept = tags.filter((tag) => typeof tag === 'string' || !dropped.test(tag.tag));
  const numbersWrapped = kept.map((tag) => (typeof tag !== 'string' && isNumberTag(tag) ? keepNumberSource(tag) : tag));
  return [...numbersWrapped, psychBool(PSYCH_TRUE, true), psychBool(PSYCH_FALSE, false)];
}

function isNumberTag(tag: ScalarTag | CollectionTag): tag is ScalarTag {
  return tag.collection === undefined && /:(?:int|float)$/.test(tag.tag);
}

function keepNumberSource(tag: ScalarTag): ScalarTag {
  return { ...tag, resolve: (source) => new YamlNumber(source) };
}

function psychBool(test: RegExp, value: boolean): ScalarTag {
  return {
    tag: 'tag:yaml.org,2002:bool',
    default: true,
    test,
    resolve: () => value,
    identify: (candidate: unknown) => candidate === value,
  };
}

function loadYaml(yamlText: string, problems: Problems): unknown {
  const options = {
    version: '1.1' as const,
    merge: true,
    uniqueKeys: false, // Psych lets a repeated key silently win, and so do we.
    maxAliasCount: MAX_ALIAS_COUNT,
    customTags: psychLikeTags,
    logLevel: 'error' as const, // problems are reported in the result, not on the process' stderr
  };
  let document: Document.Parsed;
  try {
    document = parseDocument(yamlText, options);
  } catch (error) {
    return problems.error(`(<unknown>): ${describeError(error)}`);
  }
  for (const warning of document.warnings) problems.warn(`(<unknown>): ${firstLine(warning.message)}`);
  if (document.errors.length > 0) {
    // Deeply nested garbage can yield thousands of errors; the first few say enough.
    for (const error of document.errors.slice(0, MAX_YAML_ERRORS)) problems.error(`(<unknown>): ${firstLine(error.message)}`);
    const more = document.errors.length - MAX_YAML_ERRORS;
    if (more > 0) problems.error(`(<unknown>): ${more} more YAML errors`);
    return undefined;
  }
  if (!keepKeysAsWritten(document)) {
    return problems.error('(<unknown>): mapping keys must be plain values, not lists or hashes');
  }
  try {
    return document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // Excessive or unresolved aliases are reported by toJS as exceptions.
    return problems.error(`(<unknown>): ${describeError(error)}`);
  }
}

/**
 * Map keys are names (jobs, variables, keywords), so they keep their source text: `NO:` stays the
 * variable `NO` instead of becoming `false`, `1.10:` stays a job named `1.10`. Returns false when
 * a key is a collection, which has no sensible name.
 */
function keepKeysAsWritten(document: Document.Parsed): boolean {
  let allKeysScalar = true;
  visit(document, {
    Pair(_, pair) {
      const key = pair.key;
      if (isCollection(key)) allKeysScalar = false;
      if (!isScalar(key) || typeof key.source !== 'string') return;
      const value: unknown = key.value;
      if (value === null || typeof value === 'boolean' || value instanceof YamlNumber) key.value = key.source;
    },
  });
  return allKeysScalar;
}

// =============================================================================================
// Global (top-level) keywords
// =============================================================================================

interface GlobalConfig {
  stages: string[];
  variables: Map<string, string>;
  beforeScript: string[] | undefined;
  afterScript: string[] | undefined;
  image: string | undefined;
  services: string[] | undefined;
  cache: CacheOptions | undefined;
}

function readGlobal(root: YamlMap, problems: Problems): GlobalConfig {
  return {
    stages: readStages(root, problems),
    variables: readVariables(field(root, 'variables'), 'variables', problems) ?? new Map(),
    beforeScript: readStringArray(field(root, 'before_script'), 'before_script', problems),
    afterScript: readStringArray(field(root, 'after_script'), 'after_script', problems),
    image: readString(field(root, 'image'), 'image', problems),
    services: readStringArray(field(root, 'services'), 'services', problems),
    cache: readCache(field(root, 'cache'), 'cache', problems),
  };
}

/** `types` is the pre-8.0 name of `stages`, used only when `stages` is absent. */
function readStages(root: YamlMap, problems: Problems): string[] {
  const stages = readStringArray(field(root, 'stages'), 'stages', problems);
  const types = readStringArray(field(root, 'types'), 'types', problems);
  if (field(root, 'types') !== undefined) problems.warn('types is deprecated, use stages instead');
  return stages ?? types ?? DEFAULT_STAGES;
}

// =============================================================================================
// Jobs
// =============================================================================================

/** A job as read from YAML, before the cross-job check of its dependencies. */
interface ReadJob {
  job: CiJob;
  /** false when `stage` named no known stage: such a job takes no part in dependency checks. */
  stageKnown: boolean;
  dependencies: string[] | undefined;
}

function readJobs(root: YamlMap, global: GlobalConfig, problems: Problems): ReadJob[] {
  const jobs: ReadJob[] = [];
  for (const [name, config] of Object.entries(root)) {
    if (GLOBAL_KEYWORDS.has(name) || name.startsWith('.')) continue;
    const job = readJob(name, config, global, problems);
    if (job !== undefined) jobs.push(job);
  }
  return jobs;
}

function readJob(name: string, config: unknown, global: GlobalConfig, problems: Problems): ReadJob | undefined {
  const path = `jobs:${name}`;
  if (name.trim() === '') return problems.error('jobs config contains a job with a blank name');
  if (!isYamlMap(config)) return problems.error(`${path} config should be a hash`);
  reportUnknownKeys(config, JOB_KEYWORDS, path, problems);

  const stage = readJobStage(name, config, global.stages, problems);
  const script = readScript(field(config, 'script'), path, problems);
  const beforeScript = readStringArray(field(config, 'before_script'), `${path}:before_script`, problems);
  const when = readEnum(field(config, 'when'), JOB_WHEN_VALUES, `${path}:when`, problems) ?? 'on_success';
  const allowFailure = readBoolean(field(config, 'allow_failure'), `${path}:allow_failure`, problems);
  const dependencies = readStringArray(field(config, 'dependencies'), `${path}:dependencies`, problems);

  const job: CiJob = {
    name,
    stage: stage.name,
    stageIdx: stage.index,
    commands: [...(beforeScript ?? global.beforeScript ?? []), ...(script ?? [])].join('\n'),
    options: readJobOptions(config, path, global, dependencies, problems),
    yamlVariables: mergeVariables(global.variables, readVariables(field(config, 'variables'), `${path}:variables`, problems)),
    tags: readStringArray(field(config, 'tags'), `${path}:tags`, problems) ?? [],
    when,
    // GitLab 8.x lets a manual action fail without failing the pipeline unless told otherwise.
    allowFailure: allowFailure ?? when === 'manual',
    only: readRefPolicy(field(config, 'only'), `${path}:only`, problems),
    except: readRefPolicy(field(config, 'except'), `${path}:except`, problems),
  };
  return { job, stageKnown: stage.index >= 0, dependencies };
}

/** `stage` wins over its old alias `type`; the stage must be one of the pipeline's stages. */
function readJobStage(name: string, config: YamlMap, stages: string[], problems: Problems): { name: string; index: number } {
  const key = field(config, 'stage') !== undefined ? 'stage' : 'type';
  if (key === 'type' && field(config, 'type') !== undefined) problems.warn(`jobs:${name}:type is deprecated, use stage instead`);
  const value = field(config, key) ?? DEFAULT_JOB_STAGE;
  if (typeof value !== 'string') {
    problems.error(`jobs:${name}:${key} config should be a string`);
    return { name: String(value), index: -1 };
  }
  const index = stages.indexOf(value);
  if (index < 0) problems.error(`${name} job: stage parameter should be ${stages.join(', ')}`);
  return { name: value, index };
}

/** `script` is required: a string or a non-empty array of strings. */
function readScript(value: unknown, path: string, problems: Problems): string[] | undefined {
  if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) {
    return problems.error(`${path} script can't be blank`);
  }
  if (typeof value === 'string') return [value];
  if (isStringArray(value)) return value;
  return problems.error(`${path}:script config should be a string or an array of strings`);
}

/** The job's own image/services/cache/after_script win over the global ones, even when empty. */
function readJobOptions(
  config: YamlMap,
  path: string,
  global: GlobalConfig,
  dependencies: string[] | undefined,
  problems: Problems,
): BuildOptions {
  const options: BuildOptions = {};
  const image = readString(field(config, 'image'), `${path}:image`, problems) ?? global.image;
  const services = readStringArray(field(config, 'services'), `${path}:services`, problems) ?? global.services;
  const artifacts = readArtifacts(field(config, 'artifacts'), `${path}:artifacts`, problems);
  const cache = readCache(field(config, 'cache'), `${path}:cache`, problems) ?? global.cache;
  const afterScript = readStringArray(field(config, 'after_script'), `${path}:after_script`, problems) ?? global.afterScript;
  if (image !== undefined) options.image = image;
  if (services !== undefined) options.services = services;
  if (artifacts !== undefined) options.artifacts = artifacts;
  if (cache !== undefined) options.cache = cache;
  // `dependencies: []` is kept: for the runner it means "download no artifacts", unlike absence.
  if (dependencies !== undefined) options.dependencies = dependencies;
  if (afterScript !== undefined) options.after_script = afterScript;
  return options;
}

function readArtifacts(value: unknown, path: string, problems: Problems): ArtifactsOptions | undefined {
  if (value === undefined) return undefined;
  if (!isYamlMap(value)) return problems.error(`${path} config should be a hash`);
  reportUnknownKeys(value, ARTIFACTS_KEYWORDS, path, problems);
  const artifacts: ArtifactsOptions = {};
  const name = readString(field(value, 'name'), `${path}:name`, problems);
  const untracked = readBoolean(field(value, 'untracked'), `${path}:untracked`, problems);
  const paths = readStringArray(field(value, 'paths'), `${path}:paths`, problems);
  const when = readEnum(field(value, 'when'), ARTIFACTS_WHEN_VALUES, `${path}:when`, problems);
  const expireIn = readDuration(field(value, 'expire_in'), `${path}:expire_in`, problems);
  if (name !== undefined) artifacts.name = name;
  if (untracked !== undefined) artifacts.untracked = untracked;
  if (paths !== undefined) artifacts.paths = paths;
  if (when !== undefined) artifacts.when = when;
  if (expireIn !== undefined) artifacts.expire_in = expireIn;
  return artifacts;
}

function readCache(value: unknown, path: string, problems: Problems): CacheOptions | undefined {
  if (value === undefined) return undefined;
  if (!isYamlMap(value)) return problems.error(`${path} config should be a hash`);
  reportUnknownKeys(value, CACHE_KEYWORDS, path, problems);
  const cache: CacheOptions = {};
  const key = readString(field(value, 'key'), `${path}:key`, problems);
  const untracked = readBoolean(field(value, 'untracked'), `${path}:untracked`, problems);
  const paths = readStringArray(field(value, 'paths'), `${path}:paths`, problems);
  if (key !== undefined) cache.key = key;
  if (untracked !== undefined) cache.untracked = untracked;
  if (paths !== undefined) cache.paths = paths;
  return cache;
}

/** The text is kept as written (the runner sends it back on upload); it only has to parse. */
function readDuration(value: unknown, path: string, problems: Problems): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || parseDuration(value) === null) {
    return problems.error(`${path} config should be a duration`);
  }
  return value;
}

// =============================================================================================
// Variables
// =============================================================================================

/** Values become strings (numbers as written, booleans as true/false, null as ""); keys keep their order. */
function readVariables(value: unknown, path: string, problems: Problems): Map<string, string> | undefined {
  if (value === undefined) return undefined;
  const message = `${path} config should be a hash of key value pairs`;
  if (!isYamlMap(value)) return problems.error(message);
  const variables = new Map<string, string>();
  for (const [key, raw] of Object.entries(value)) {
    const text = variableValueText(raw);
    if (!VARIABLE_NAME.test(key)) problems.error(`${message}, variable name ${JSON.stringify(key)} should match [A-Za-z0-9_]+`);
    else if (text === undefined) problems.error(`${message}, variable ${key} should be a string, number or boolean`);
    else variables.set(key, text);
  }
  return variables;
}

function variableValueText(value: unknown): string | undefined {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (value instanceof YamlNumber) return value.source;
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

/** Like Ruby's Hash#merge: a job variable replaces a global one in place; new ones go last. */
function mergeVariables(global: Map<string, string>, job: Map<string, string> | undefined): YamlVariable[] {
  const merged = new Map([...global, ...(job ?? [])]);
  return [...merged].map(([key, value]) => ({ key, value, public: true }));
}

// =============================================================================================
// only / except
// =============================================================================================

function readRefPolicy(value: unknown, path: string, problems: Problems): RefPolicy | null {
  if (value === undefined) return null;
  const message = `${path} config should be an array of strings or regexps`;
  if (!Array.isArray(value)) {
    problems.error(message);
    return null;
  }
  const patterns: RefPattern[] = [];
  for (const entry of value) {
    const pattern = typeof entry === 'string' ? readRefPattern(entry, message, problems) : problems.error(message);
    if (pattern !== undefined) patterns.push(pattern);
  }
  // GitLab ignores an empty list (`only_params.present?`), so it restricts nothing.
  return patterns.length > 0 ? patterns : null;
}

function readRefPattern(entry: string, message: string, problems: Problems): RefPattern | undefined {
  if (entry === 'branches' || entry === 'tags') return { kind: entry };
  const keyword = REF_POLICY_KEYWORDS.find((candidate) => candidate === entry);
  if (keyword !== undefined) return { kind: 'keyword', keyword };
  if (!entry.startsWith('/')) return { kind: 'name', name: entry };

  const literal = REGEXP_LITERAL.exec(entry);
  const [, source, flags] = literal ?? [];
  if (source === undefined || flags === undefined || !ALLOWED_REGEXP_FLAGS.test(flags) || compileRegExp(source, flags) === null) {
    return problems.error(`${message}, ${entry} is not a valid regexp`);
  }
  return { kind: 'regexp', source, flags };
}

function compileRegExp(source: string, flags: string): RegExp | null {
  try {
    return new RegExp(source, flags);
  } catch {
    return null;
  }
}

/**
 * The jobs that run for a ref: no `only` or some `only` entry matches, and no `except` entry
 * matches. Regexps are unanchored, as in GitLab (`Regexp.new(source) =~ ref`).
 */
export function jobsForRef(jobs: CiJob[], ref: { ref: string; tag: boolean }): CiJob[] {
  return jobs.filter((job) => {
    if (job.only !== null && !job.only.some((pattern) => matchesPattern(pattern, ref))) return false;
    if (job.except !== null && job.except.some((pattern) => matchesPattern(pattern, ref))) return false;
    return true;
  });
}

function matchesPattern(pattern: RefPattern, ref: { ref: string; tag: boolean }): boolean {
  switch (pattern.kind) {
    case 'branches':
      return !ref.tag;
    case 'tags':
      return ref.tag;
    case 'keyword':
      // Pipelines are only ever created through this coordinator's API: never by a git push, a
      // trigger token or the web UI. So `api` always matches and the other sources never do.
      return pattern.keyword === 'api';
    case 'regexp':
      return compileRegExp(pattern.source, pattern.flags)?.test(ref.ref) ?? false;
    case 'name':
      return pattern.name === ref.ref;
  }
}

// =============================================================================================
// Cross-job checks and ordering
// =============================================================================================

/**
 * Every dependency must be a visible job of an earlier stage (its artifacts must exist by then).
 * A dependency whose own stage is invalid is skipped: that job already has its own error.
 */
function checkDependencies(jobs: ReadJob[], problems: Problems): void {
  const jobsByName = new Map(jobs.map((read) => [read.job.name, read]));
  for (const { job, stageKnown, dependencies } of jobs) {
    if (!stageKnown) continue;
    for (const dependency of dependencies ?? []) {
      const target = jobsByName.get(dependency);
      if (target !== undefined && !target.stageKnown) continue;
      if (target === undefined || target.job.stageIdx >= job.stageIdx) {
        problems.error(`${job.name} job: dependency ${dependency} is not defined in prior stages`);
      }
    }
  }
}

/** Stage order, then declaration order (Array#sort is stable). */
function sortByStage(jobs: ReadJob[]): CiJob[] {
  return jobs.map(({ job }) => job).sort((a, b) => a.stageIdx - b.stageIdx);
}

// =============================================================================================
// Typed readers: each returns the value, or undefined after recording why it is invalid.
// A YAML null counts as absent, as in GitLab (`key:` with nothing after it).
// =============================================================================================

function field(map: YamlMap, key: string): unknown {
  if (!Object.hasOwn(map, key)) return undefined;
  const value = map[key];
  return value === null ? undefined : value;
}

function readString(value: unknown, path: string, problems: Problems): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return problems.error(`${path} config should be a string`);
}

function readBoolean(value: unknown, path: string, problems: Problems): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  return problems.error(`${path} config should be a boolean value`);
}

function readStringArray(value: unknown, path: string, problems: Problems): string[] | undefined {
  if (value === undefined || isStringArray(value)) return value;
  return problems.error(`${path} config should be an array of strings`);
}

function readEnum<T extends string>(value: unknown, allowed: readonly T[], path: string, problems: Problems): T | undefined {
  if (value === undefined) return undefined;
  const match = allowed.find((candidate) => candidate === value);
  if (match !== undefined) return match;
  return problems.error(`${path} config should be ${describeChoices(allowed)}`);
}

/** `a, b or c`, GitLab's wording for allowed values. */
function describeChoices(choices: readonly string[]): string {
  return choices.length <= 1 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
}

function reportUnknownKeys(map: YamlMap, known: ReadonlySet<string>, path: string, problems: Problems): void {
  const unknown = Object.keys(map).filter((key) => !known.has(key));
  if (unknown.length > 0) problems.error(`${path} config contains unknown keys: ${unknown.join(', ')}`);
}

function isYamlMap(value: unknown): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function describeError(error: unknown): string {
  return firstLine(error instanceof Error ? error.message : String(error));
}

/** yaml's messages end with `:` and a multi-line source excerpt; an API error wants one line. */
function firstLine(message: string): string {
  return (message.split('\n', 1)[0] ?? '').trim().replace(/:$/, '');
}
