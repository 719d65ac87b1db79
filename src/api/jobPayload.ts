/**
 * The job as a v4 runner receives it (`POST /api/v4/jobs/request` 201): GitLab's
 * JobRequest::Response entity, built from the same build context as v1's BuildDetails.
 * The runner decodes it into typed Go structs, so every value has exactly the JSON type
 * openapi.yaml gives, and every list is an array, never null.
 */
import type { components } from '../generated/api.js';
import { hasArtifacts, type BuildContext } from '../domain/buildPayload.js';
import { FAILURE_REASONS } from '../domain/jobUpdate.js';
import { jobVariables } from '../domain/jobVariables.js';

type Schemas = components['schemas'];
export type JobPayload = Schemas['JobPayload'];


export function presentJobPayload(context: BuildContext, now: Date): JobPayload {
  const { build, pipeline, project } = context;
  const options = build.options;
  const variables = jobVariables(context);
  // The project's timeout, lowered to the runner's maximum_timeout when that is smaller (GitLab's rule).
  const maximum = context.runner?.maximumTimeout ?? null;
  const timeout = maximum !== null && maximum < project.buildTimeout ? maximum : project.buildTimeout;
  const script = build.commands === '' ? [] : build.commands.split('\n');
  const steps: JobPayload['steps'] = [{ name: 'script', script, timeout, when: 'on_success', allow_failure: false }];
  if (options.after_script && options.after_script.length > 0) {
    steps.push({ name: 'after_script', script: options.after_script, timeout, when: 'always', allow_failure: true });
  }
  const depth = gitDepth(variables);
  return {
    id: build.id,
    token: build.token,
    allow_git_fetch: project.buildAllowGitFetch,
    job_info: {
      id: build.id,
      name: build.name,
      stage: build.stage,
      project_id: project.id,
      project_name: project.name,
      pipeline_id: pipeline.id,
      time_in_queue_seconds: secondsBetween(build.queuedAt, build.startedAt ?? now.toISOString()),
    },
    git_info: {
      // As given, as for v1: we host no git, so the job token goes into no URL.
      repo_url: project.repoUrl,
      ref: build.ref,
      sha: pipeline.sha,
      before_sha: pipeline.beforeSha,
      ref_type: build.tag ? 'tag' : 'branch',
      refspecs: refspecs(build.ref, build.tag, depth),
      depth,
    },
    runner_info: { timeout },
    variables,
    steps,
    image: options.image ? { name: options.image, entrypoint: [], ports: [] } : null,
    services: (options.services ?? []).map((name) => ({ name, entrypoint: [], ports: [], alias: '', command: [] })),
    artifacts: options.artifacts
      ? [
          {
            // The runner names the archive after it: `artifacts.zip` when none is given, as v1 did.
            name: options.artifacts.name || 'artifacts',
            untracked: options.artifacts.untracked ?? false,
            paths: options.artifacts.paths ?? [],
            when: options.artifacts.when ?? 'on_success',
            expire_in: options.artifacts.expire_in ?? '',
            artifact_type: 'archive',
            artifact_format: 'zip',
          },
        ]
      : [],
    cache: options.cache
      ? [
          {
            key: options.cache.key || 'default',
            untracked: options.cache.untracked ?? false,
            paths: options.cache.paths ?? [],
            policy: 'pull-push',
            when: 'on_success',
            fallback_keys: [],
          },
        ]
      : [],
    // No container registry, so no registry credentials (GitLab sends none when it is off).
    credentials: [],
    dependencies: dependenciesOf(context, now),
    features: { trace_sections: true, failure_reasons: [...FAILURE_REASONS] },
  };
}

/**
 * The earlier stages' jobs the job depends on: all of them, or those `dependencies:`
 * names (`[]`: none), each with its own token, and its archive while it has one.
 */
function dependenciesOf(context: BuildContext, now: Date): JobPayload['dependencies'] {
  const names = context.build.options.dependencies;
  const wanted = names === undefined ? context.dependencies : context.dependencies.filter((dependency) => names.includes(dependency.name));
  return wanted.map((dependency) => {
    const archive = context.archives.get(dependency.id);
    return {
      id: dependency.id,
      name: dependency.name,
      token: dependency.token,
      ...(hasArtifacts(archive, now) ? { artifacts_file: { filename: archive.filename, size: archive.size } } : {}),
    };
  });
}

/** `GIT_DEPTH` from the job's variables (YAML ones last, so they win), 0 = the whole history. */
function gitDepth(variables: { key: string; value: string }[]): number {
  const value = variables.filter((variable) => variable.key === 'GIT_DEPTH').pop()?.value;
  const depth = value === undefined ? NaN : Number(value);
  return Number.isSafeInteger(depth) && depth > 0 ? depth : 0;
}

/**
 * GitLab's refspecs without its `refs/pipelines/<id>`, which only a GitLab-hosted repository
 * has: the job's branch or tag, and with the whole history (no depth) all branches and tags.
 */
function refspecs(ref: string, tag: boolean, depth: number): string[] {
  const own = tag ? `+refs/tags/${ref}:refs/tags/${ref}` : `+refs/heads/${ref}:refs/remotes/origin/${ref}`;
  if (depth > 0) return [own];
  return [own, '+refs/tags/*:refs/tags/*', '+refs/heads/*:refs/remotes/origin/*'];
}

function secondsBetween(from: string | null, to: string): number {
  if (from === null) return 0;
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}
