import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobsForRef, parseCiConfig, type CiConfigResult, type CiJob } from '../src/domain/ciConfig.js';

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function validJobs(yamlText: string): { stages: string[]; jobs: CiJob[]; warnings: string[] } {
  const result = parseCiConfig(yamlText);
  if (!result.valid) assert.fail(`expected a valid config, got: ${result.errors.join(' | ')}`);
  return result;
}

function job(yamlText: string, name: string): CiJob {
  const found = validJobs(yamlText).jobs.find((candidate) => candidate.name === name);
  if (found === undefined) return assert.fail(`no job ${name}`);
  return found;
}

function errorsOf(yamlText: string): string[] {
  const result = parseCiConfig(yamlText);
  if (result.valid) assert.fail('expected an invalid config');
  assert.ok(result.errors.length > 0, 'an invalid config has at least one error');
  return result.errors;
}

/** Asserts that one of the errors is exactly `message`. */
function assertError(yamlText: string, message: string): void {
  const errors = errorsOf(yamlText);
  assert.ok(errors.includes(message), `expected ${JSON.stringify(message)} among ${JSON.stringify(errors)}`);
}

// ---------------------------------------------------------------------------------------------
// a realistic configuration
// ---------------------------------------------------------------------------------------------

const REALISTIC = `
image: ruby:2.3
services:
  - postgres:9.5
variables:
  DB_NAME: postgres
  RAILS_ENV: test
  RETRIES: 3
  VERBOSE: true
cache:
  key: gems
  paths: [vendor/bundle]
before_script:
  - bundle install --path vendor/bundle
after_script:
  - echo done

.docker_job: &docker_job
  tags: [docker]
  except:
    - /^wip-.*$/

.ruby_test: &ruby_test
  <<: *docker_job
  stage: test
  artifacts:
    paths: [coverage/]
    expire_in: 1 week
    when: always

compile:
  <<: *docker_job
  stage: build
  script: rake assets:precompile
  artifacts:
    name: assets
    paths: [public/assets]
    untracked: false

rspec:
  <<: *ruby_test
  script:
    - bundle exec rspec
  variables:
    RAILS_ENV: rspec
    COVERAGE: "1"
  dependencies: [compile]

spinach:
  <<: *ruby_test
  image: ruby:2.1
  before_script: []
  script: [bundle exec spinach, echo ok]
  cache:
    paths: [tmp/]

production:
  stage: deploy
  script: cap production deploy
  when: manual
  only: [master, tags]
  services: []
  after_script: []
  dependencies: []
`;

test('a realistic config: stages, job order, hidden jobs skipped', () => {
  const { stages, jobs, warnings } = validJobs(REALISTIC);
  assert.deepEqual(stages, ['build', 'test', 'deploy']);
  assert.deepEqual(jobs.map((j) => [j.name, j.stage, j.stageIdx]), [
    ['compile', 'build', 0],
    ['rspec', 'test', 1],
    ['spinach', 'test', 1],
    ['production', 'deploy', 2],
  ]);
  assert.deepEqual(warnings, []);
});

test('merge keys bring in templates, and nested merges work', () => {
  const rspec = job(REALISTIC, 'rspec');
  assert.deepEqual(rspec.tags, ['docker']);
  assert.deepEqual(rspec.except, [{ kind: 'regexp', source: '^wip-.*$', flags: '' }]);
  assert.deepEqual(rspec.options.artifacts, { paths: ['coverage/'], when: 'always', expire_in: '1 week' });
});

test('options: global image/services/cache/after_script are inherited, job values win (even empty ones)', () => {
  assert.deepEqual(job(REALISTIC, 'rspec').options, {
    image: 'ruby:2.3',
    services: ['postgres:9.5'],
    artifacts: { paths: ['coverage/'], when: 'always', expire_in: '1 week' },
    cache: { key: 'gems', paths: ['vendor/bundle'] },
    dependencies: ['compile'],
    after_script: ['echo done'],
  });
  assert.deepEqual(job(REALISTIC, 'spinach').options.image, 'ruby:2.1');
  assert.deepEqual(job(REALISTIC, 'spinach').options.cache, { paths: ['tmp/'] });
  assert.deepEqual(job(REALISTIC, 'production').options, {
    image: 'ruby:2.3',
    services: [],
    cache: { key: 'gems', paths: ['vendor/bundle'] },
    dependencies: [],
    after_script: [],
  });
  assert.deepEqual(job(REALISTIC, 'compile').options.artifacts, { name: 'assets', untracked: false, paths: ['public/assets'] });
});

test('options contain only the keys that are set', () => {
  assert.deepEqual(job('j: {script: x}', 'j').options, {});
  assert.deepEqual(Object.keys(job('image: a\nj: {script: x}', 'j').options), ['image']);
});

test('commands: before_script (job or global) then script, joined with newlines', () => {
  assert.equal(job(REALISTIC, 'compile').commands, 'bundle install --path vendor/bundle\nrake assets:precompile');
  assert.equal(job(REALISTIC, 'spinach').commands, 'bundle exec spinach\necho ok');
  assert.equal(job('before_script: [a, b]\nj: {before_script: [c], script: [d, e]}', 'j').commands, 'c\nd\ne');
  assert.equal(job('j: {script: "single line"}', 'j').commands, 'single line');
});

test('variables: global merged with job (job wins in place), values stringified, all public', () => {
  assert.deepEqual(job(REALISTIC, 'rspec').yamlVariables, [
    { key: 'DB_NAME', value: 'postgres', public: true },
    { key: 'RAILS_ENV', value: 'rspec', public: true },
    { key: 'RETRIES', value: '3', public: true },
    { key: 'VERBOSE', value: 'true', public: true },
    { key: 'COVERAGE', value: '1', public: true },
  ]);
  assert.deepEqual(job(REALISTIC, 'compile').yamlVariables.map((v) => v.key), ['DB_NAME', 'RAILS_ENV', 'RETRIES', 'VERBOSE']);
  assert.deepEqual(job('j: {script: x, variables: {EMPTY: , F: 1.5, NO: false}}', 'j').yamlVariables, [
    { key: 'EMPTY', value: '', public: true },
    { key: 'F', value: '1.5', public: true },
    { key: 'NO', value: 'false', public: true },
  ]);
  assert.deepEqual(job('j: {script: x}', 'j').yamlVariables, []);
});

test('numeric variable values keep the text they were written as', () => {
  const values = job('j: {script: x, variables: {A: 2.10, B: 0022, C: 12345678901234567890, D: 0x1F, E: 1e3, F: -1}}', 'j')
    .yamlVariables.map((v) => v.value);
  assert.deepEqual(values, ['2.10', '0022', '12345678901234567890', '0x1F', '1e3', '-1']);
});

test('defaults: stage test, when on_success, allow_failure false, no tags, no only/except', () => {
  const j = job('j: {script: x}', 'j');
  assert.equal(j.stage, 'test');
  assert.equal(j.stageIdx, 1);
  assert.equal(j.when, 'on_success');
  assert.equal(j.allowFailure, false);
  assert.deepEqual(j.tags, []);
  assert.equal(j.only, null);
  assert.equal(j.except, null);
});

test('manual jobs may fail by default; an explicit allow_failure wins', () => {
  const production = job(REALISTIC, 'production');
  assert.equal(production.when, 'manual');
  assert.equal(production.allowFailure, true);
  assert.equal(job('j: {script: x, when: manual, allow_failure: false}', 'j').allowFailure, false);
  assert.equal(job('j: {script: x, when: always, allow_failure: true}', 'j').allowFailure, true);
});

test('custom stages, and the deprecated types/type aliases (with warnings)', () => {
  const custom = validJobs('stages: [lint, ship]\na: {stage: ship, script: x}\nb: {stage: lint, script: y}');
  assert.deepEqual(custom.stages, ['lint', 'ship']);
  assert.deepEqual(custom.jobs.map((j) => [j.name, j.stageIdx]), [['b', 0], ['a', 1]]);

  const old = validJobs('types: [one, two]\na: {type: two, script: x}');
  assert.deepEqual(old.stages, ['one', 'two']);
  assert.equal(old.jobs[0]?.stage, 'two');
  assert.ok(old.warnings.some((w) => w.includes('types')));
  assert.ok(old.warnings.some((w) => w.includes('jobs:a:type')));

  assert.deepEqual(validJobs('stages: [s]\ntypes: [t]\na: {stage: s, script: x}').stages, ['s']);
});

test('YAML 1.1 booleans as Ruby reads them; `y`/`n` and dates stay strings', () => {
  const j = job('j: {script: x, allow_failure: yes, variables: {A: on, B: n, C: 2016-01-01}}', 'j');
  assert.equal(j.allowFailure, true);
  assert.deepEqual(j.yamlVariables.map((v) => v.value), ['true', 'n', '2016-01-01']);
});

test('map keys keep their source text: no booleans, numbers or nulls as names', () => {
  const { jobs } = validJobs('1.10: {script: x, variables: {NO: 1, ON: 2, 0x1F: 3}}\ntrue: {script: y}');
  assert.deepEqual(jobs.map((j) => j.name), ['1.10', 'true']);
  assert.deepEqual(jobs[0]?.yamlVariables.map((v) => v.key), ['NO', 'ON', '0x1F']);
});

test('a list or hash used as a key is an error, and nothing is printed', () => {
  assertError('? [a, b]\n: {script: x}', '(<unknown>): mapping keys must be plain values, not lists or hashes');
});

test('hundreds of jobs may merge the same template', () => {
  const template = '.tpl: &tpl\n  tags: [docker]\n  variables: {A: 1}\n  only: *refs\n';
  const jobs = Array.from({ length: 300 }, (_, i) => `job${i}:\n  <<: *tpl\n  script: [x]\n`).join('');
  const { jobs: parsed } = validJobs(`.refs: &refs [master, tags]\n${template}${jobs}`);
  assert.equal(parsed.length, 300);
  assert.deepEqual(parsed[299]?.tags, ['docker']);
});

test('special job names do not touch prototypes', () => {
  const { jobs } = validJobs('__proto__: {script: a}\nconstructor: {script: b}\ntoString: {stage: build, script: c}');
  assert.deepEqual(jobs.map((j) => j.name).sort(), ['__proto__', 'constructor', 'toString']);
  assertError('constructor: {script: b, dependencies: [hasOwnProperty]}', 'constructor job: dependency hasOwnProperty is not defined in prior stages');
});

// ---------------------------------------------------------------------------------------------
// validation errors
// ---------------------------------------------------------------------------------------------

const errorCases: [string, string, string][] = [
  ['YAML syntax error', 'rspec: [', '(<unknown>): '],
  ['a scalar document', 'just a string', 'Invalid configuration format'],
  ['a list document', '- a\n- b', 'Invalid configuration format'],
  ['no jobs', 'image: ruby', 'jobs config should contain at least one visible job'],
  ['only hidden jobs', '.hidden: {script: x}', 'jobs config should contain at least one visible job'],
  ['job not a hash', 'rspec: echo', 'jobs:rspec config should be a hash'],
  ['missing script', 'rspec: {stage: test}', "jobs:rspec script can't be blank"],
  ['empty script list', 'rspec: {script: []}', "jobs:rspec script can't be blank"],
  ['null script', 'rspec: {script: }', "jobs:rspec script can't be blank"],
  ['script of numbers', 'rspec: {script: [1, 2]}', 'jobs:rspec:script config should be a string or an array of strings'],
  ['script hash', 'rspec: {script: {a: b}}', 'jobs:rspec:script config should be a string or an array of strings'],
  ['unknown stage', 'rspec: {stage: lint, script: x}', 'rspec job: stage parameter should be build, test, deploy'],
  ['stage not a string', 'rspec: {stage: [test], script: x}', 'jobs:rspec:stage config should be a string'],
  ['dependency on a later stage', 'rspec: {script: x, dependencies: [deploy]}\ndeploy: {stage: deploy, script: y}', 'rspec job: dependency deploy is not defined in prior stages'],
  ['dependency on the same stage', 'rspec: {script: x, dependencies: [lint]}\nlint: {script: y}', 'rspec job: dependency lint is not defined in prior stages'],
  ['dependency on an unknown job', 'rspec: {script: x, dependencies: [ghost]}', 'rspec job: dependency ghost is not defined in prior stages'],
  ['dependency on a hidden job', '.b: {stage: build, script: x}\nrspec: {script: x, dependencies: [.b]}', 'rspec job: dependency .b is not defined in prior stages'],
  ['dependencies not a list', 'rspec: {script: x, dependencies: build}', 'jobs:rspec:dependencies config should be an array of strings'],
  ['bad when', 'rspec: {script: x, when: later}', 'jobs:rspec:when config should be on_success, on_failure, always or manual'],
  ['bad expire_in', 'rspec: {script: x, artifacts: {expire_in: forever}}', 'jobs:rspec:artifacts:expire_in config should be a duration'],
  ['numeric expire_in', 'rspec: {script: x, artifacts: {expire_in: 42}}', 'jobs:rspec:artifacts:expire_in config should be a duration'],
  ['bad artifacts when', 'rspec: {script: x, artifacts: {when: manual}}', 'jobs:rspec:artifacts:when config should be on_success, on_failure or always'],
  ['artifacts paths string', 'rspec: {script: x, artifacts: {paths: out/}}', 'jobs:rspec:artifacts:paths config should be an array of strings'],
  ['artifacts name not string', 'rspec: {script: x, artifacts: {name: [a]}}', 'jobs:rspec:artifacts:name config should be a string'],
  ['artifacts untracked', 'rspec: {script: x, artifacts: {untracked: maybe}}', 'jobs:rspec:artifacts:untracked config should be a boolean value'],
  ['artifacts unknown key', 'rspec: {script: x, artifacts: {paths: [a], foo: 1}}', 'jobs:rspec:artifacts config contains unknown keys: foo'],
  ['artifacts not a hash', 'rspec: {script: x, artifacts: [a]}', 'jobs:rspec:artifacts config should be a hash'],
  ['tags string', 'rspec: {script: x, tags: docker}', 'jobs:rspec:tags config should be an array of strings'],
  ['tags of numbers', 'rspec: {script: x, tags: [1]}', 'jobs:rspec:tags config should be an array of strings'],
  ['allow_failure string', 'rspec: {script: x, allow_failure: maybe}', 'jobs:rspec:allow_failure config should be a boolean value'],
  ['global variables list', 'variables: [A]\nrspec: {script: x}', 'variables config should be a hash of key value pairs'],
  ['job variables string', 'rspec: {script: x, variables: A=1}', 'jobs:rspec:variables config should be a hash of key value pairs'],
  ['nested variable value', 'rspec: {script: x, variables: {A: {b: c}}}', 'jobs:rspec:variables config should be a hash of key value pairs, variable A should be a string, number or boolean'],
  ['bad variable name', 'variables: {A-B: 1}\nrspec: {script: x}', 'variables config should be a hash of key value pairs, variable name "A-B" should match [A-Za-z0-9_]+'],
  ['unknown job key', 'rspec: {script: x, foo: 1, bar: 2}', 'jobs:rspec config contains unknown keys: foo, bar'],
  ['image not a string', 'rspec: {script: x, image: [a]}', 'jobs:rspec:image config should be a string'],
  ['services string', 'rspec: {script: x, services: postgres}', 'jobs:rspec:services config should be an array of strings'],
  ['before_script string', 'rspec: {script: x, before_script: make}', 'jobs:rspec:before_script config should be an array of strings'],
  ['after_script hash', 'rspec: {script: x, after_script: {a: b}}', 'jobs:rspec:after_script config should be an array of strings'],
  ['cache unknown key', 'rspec: {script: x, cache: {paths: [a], policy: pull}}', 'jobs:rspec:cache config contains unknown keys: policy'],
  ['cache key not string', 'rspec: {script: x, cache: {key: [a]}}', 'jobs:rspec:cache:key config should be a string'],
  ['cache not a hash', 'cache: [a]\nrspec: {script: x}', 'cache config should be a hash'],
  ['global stages string', 'stages: build\nrspec: {script: x}', 'stages config should be an array of strings'],
  ['global before_script', 'before_script: {a: 1}\nrspec: {script: x}', 'before_script config should be an array of strings'],
  ['global image', 'image: {a: 1}\nrspec: {script: x}', 'image config should be a string'],
  ['only string', 'rspec: {script: x, only: master}', 'jobs:rspec:only config should be an array of strings or regexps'],
  ['only number', 'rspec: {script: x, only: [1]}', 'jobs:rspec:only config should be an array of strings or regexps'],
  ['only hash entry', 'rspec: {script: x, only: [{a: b}]}', 'jobs:rspec:only config should be an array of strings or regexps'],
  ['except invalid regexp', 'rspec: {script: x, except: ["/(/"]}', 'jobs:rspec:except config should be an array of strings or regexps, /(/ is not a valid regexp'],
  ['regexp with a stateful flag', 'rspec: {script: x, only: ["/a/g"]}', 'jobs:rspec:only config should be an array of strings or regexps, /a/g is not a valid regexp'],
  ['unterminated regexp', 'rspec: {script: x, only: ["/a"]}', 'jobs:rspec:only config should be an array of strings or regexps, /a is not a valid regexp'],
  ['alias bomb', ['a: &a [x,x,x,x,x,x,x,x,x]', ...['b', 'c', 'd', 'e', 'f'].map((level, i) => `${level}: &${level} [${Array(9).fill('*' + 'abcdef'[i]).join(',')}]`)].join('\n'), '(<unknown>): Excessive alias count'],
  ['unknown alias', 'rspec: {script: *nope}', '(<unknown>): Unresolved alias'],
  ['empty text', '', 'Please provide content of .gitlab-ci.yml'],
  ['blank text', ' \n\t\n', 'Please provide content of .gitlab-ci.yml'],
  ['comments only', '# nothing\n', 'Invalid configuration format'],
];

for (const [title, yamlText, expected] of errorCases) {
  test(`error: ${title}`, () => {
    // YAML library messages are only checked by prefix: their wording belongs to the library.
    const matches = (error: string) => (expected.startsWith('(<unknown>)') ? error.startsWith(expected) : error === expected);
    const errors = errorsOf(yamlText);
    assert.ok(errors.some(matches), `expected ${JSON.stringify(expected)} among ${JSON.stringify(errors)}`);
  });
}

test('YAML errors are capped so garbage cannot produce thousands of messages', () => {
  const errors = errorsOf(Array.from({ length: 50 }, (_, i) => `k${i}: b: c`).join('\n'));
  assert.equal(errors.length, 11);
  assert.equal(errors.at(-1), '(<unknown>): 40 more YAML errors');
  assert.match(errors[0] ?? '', /^\(<unknown>\): .* at line 1, column 5$/);
});

test('every problem is reported, each naming its job and key', () => {
  const errors = errorsOf(`
stages: [build, test]
rspec:
  script: []
  when: later
  tags: docker
  allow_failure: maybe
  artifacts: {expire_in: forever}
  dependencies: [deploy]
lint:
  stage: nope
  script: x
  foo: 1
`);
  assert.deepEqual(errors.sort(), [
    "jobs:lint config contains unknown keys: foo",
    "jobs:rspec script can't be blank",
    'jobs:rspec:allow_failure config should be a boolean value',
    'jobs:rspec:artifacts:expire_in config should be a duration',
    'jobs:rspec:tags config should be an array of strings',
    'jobs:rspec:when config should be on_success, on_failure, always or manual',
    'lint job: stage parameter should be build, test',
    'rspec job: dependency deploy is not defined in prior stages',
  ]);
});

test('a dependency on a job whose own stage is invalid is not reported twice', () => {
  const errors = errorsOf('rspec: {script: x, dependencies: [b]}\nb: {stage: nope, script: y}');
  assert.deepEqual(errors, ['b job: stage parameter should be build, test, deploy']);
});

test('valid dependencies on earlier stages pass', () => {
  assert.deepEqual(job(REALISTIC, 'rspec').options.dependencies, ['compile']);
});

// ---------------------------------------------------------------------------------------------
// only / except
// ---------------------------------------------------------------------------------------------

const POLICIES = `
stages: [build]
plain:        {stage: build, script: x}
only_branches: {stage: build, script: x, only: [branches]}
only_tags:    {stage: build, script: x, only: [tags]}
only_master:  {stage: build, script: x, only: [master]}
only_regexp:  {stage: build, script: x, only: ["/^release-\\\\d+$/"]}
only_icase:   {stage: build, script: x, only: ["/^HOTFIX/i"]}
except_master: {stage: build, script: x, except: [master]}
except_tags:  {stage: build, script: x, except: [tags]}
except_wins:  {stage: build, script: x, only: [branches], except: ["/^wip/"]}
only_api:     {stage: build, script: x, only: [api]}
only_pushes:  {stage: build, script: x, only: [pushes, triggers, web]}
except_api:   {stage: build, script: x, except: [api]}
empty_only:   {stage: build, script: x, only: []}
`;

const refTable: [string, { ref: string; tag: boolean }, string[]][] = [
  ['branch master', { ref: 'master', tag: false }, ['plain', 'only_branches', 'only_master', 'except_tags', 'except_wins', 'only_api', 'empty_only']],
  ['branch feature', { ref: 'feature', tag: false }, ['plain', 'only_branches', 'except_master', 'except_tags', 'except_wins', 'only_api', 'empty_only']],
  ['tag v1.0', { ref: 'v1.0', tag: true }, ['plain', 'only_tags', 'except_master', 'only_api', 'empty_only']],
  ['tag master', { ref: 'master', tag: true }, ['plain', 'only_tags', 'only_master', 'only_api', 'empty_only']],
  ['branch release-12', { ref: 'release-12', tag: false }, ['plain', 'only_branches', 'only_regexp', 'except_master', 'except_tags', 'except_wins', 'only_api', 'empty_only']],
  ['branch release-x', { ref: 'release-x', tag: false }, ['plain', 'only_branches', 'except_master', 'except_tags', 'except_wins', 'only_api', 'empty_only']],
  ['branch hotfix-1 (case-insensitive regexp)', { ref: 'hotfix-1', tag: false }, ['plain', 'only_branches', 'only_icase', 'except_master', 'except_tags', 'except_wins', 'only_api', 'empty_only']],
  ['branch wip-x (except wins over only)', { ref: 'wip-x', tag: false }, ['plain', 'only_branches', 'except_master', 'except_tags', 'only_api', 'empty_only']],
];

for (const [title, ref, expected] of refTable) {
  test(`jobsForRef: ${title}`, () => {
    const { jobs } = validJobs(POLICIES);
    assert.deepEqual(jobsForRef(jobs, ref).map((j) => j.name).sort(), [...expected].sort());
  });
}

test('regexps are unanchored, as in GitLab', () => {
  const { jobs } = validJobs('j: {script: x, only: ["/stable/"]}');
  assert.equal(jobsForRef(jobs, { ref: '8-0-stable', tag: false }).length, 1);
  assert.equal(jobsForRef(jobs, { ref: 'master', tag: false }).length, 0);
});

test('only/except are plain serializable data', () => {
  const { jobs } = validJobs(POLICIES);
  const roundTripped = JSON.parse(JSON.stringify(jobs)) as CiJob[];
  assert.deepEqual(roundTripped, jobs);
  assert.deepEqual(
    jobsForRef(roundTripped, { ref: 'release-3', tag: false }).map((j) => j.name),
    jobsForRef(jobs, { ref: 'release-3', tag: false }).map((j) => j.name),
  );
});

// ---------------------------------------------------------------------------------------------
// never throws
// ---------------------------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32) so a failing fuzz case can be reproduced. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const YAML_BITS = [':', '-', ' ', '\n', '  ', '[', ']', '{', '}', '&a', '*a', '<<', '!!', '"', "'", '#', '|', '>', ',', '?', '%', '@', '`', 'script', 'stage', 'only', '/', '\\', '\t', 'null', '~', '0x1', '\u0000', '\uFEFF'];

function isResult(value: CiConfigResult): boolean {
  return value.valid ? Array.isArray(value.jobs) : Array.isArray(value.errors) && value.errors.length > 0;
}

test('fuzz: random and mutated inputs always give a result object', () => {
  const next = random(20161223);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  for (let i = 0; i < 400; i++) {
    let text: string;
    if (i % 2 === 0) {
      text = Array.from({ length: Math.floor(next() * 60) }, () => pick(YAML_BITS)).join('');
    } else {
      const chars = [...REALISTIC];
      for (let m = 0; m < 1 + Math.floor(next() * 8); m++) {
        const at = Math.floor(next() * chars.length);
        if (next() < 0.5) chars.splice(at, 1 + Math.floor(next() * 5));
        else chars.splice(at, 0, pick(YAML_BITS));
      }
      text = chars.join('');
    }
    let result: CiConfigResult | undefined;
    assert.doesNotThrow(() => {
      result = parseCiConfig(text);
    }, `input: ${JSON.stringify(text)}`);
    assert.ok(result !== undefined && isResult(result), `input: ${JSON.stringify(text)}`);
  }
});

test('hostile shapes never throw', () => {
  const inputs: unknown[] = [
    '[' .repeat(50_000) + ']'.repeat(50_000),
    '{a: '.repeat(20_000) + '1' + '}'.repeat(20_000),
    'a:\n' + Array.from({ length: 3000 }, (_, depth) => ' '.repeat(depth + 1) + `k${depth}:`).join('\n'),
    'rspec: ' + 'x'.repeat(1_000_000),
    '42',
    'null',
    '~',
    'true',
    '- - -',
    '!!binary aGVsbG8=',
    'a: !!set {x}\n',
    '---\na: 1\n---\nb: 2',
    'rspec:\n  script: [x]\n  variables: {A: [1, 2]}',
    'rspec: {script: x, only: ["/(?<=a)b/", "/\\\\p{L}/u", "/[/"]}',
    undefined,
    null,
    42,
    { rspec: { script: 'x' } },
  ];
  for (const input of inputs) {
    const result = parseCiConfig(input as string);
    assert.ok(isResult(result), `input: ${String(input).slice(0, 80)}`);
  }
});
