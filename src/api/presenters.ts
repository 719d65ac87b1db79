import type { components } from '../generated/api.js';
import type { Role } from '../domain/access.js';
import { hasArtifacts } from '../domain/buildPayload.js';
import { isOnline, runnerStatus } from '../domain/runnerAdmin.js';
import type { JobArtifactRecord } from '../store/artifacts.js';
import type { BuildRecord } from '../store/builds.js';
import type { PipelineRecord } from '../store/pipelines.js';
import type { ProjectRecord } from '../store/projects.js';
import type { RunnerProjectRef, RunnerRecord } from '../store/runners.js';
import type { TriggerRecord } from '../store/triggers.js';
import type { ProjectVariableRecord } from '../store/variables.js';

type Schemas = components['schemas'];

/**
 * Records → the JSON shapes of openapi.yaml. The viewer token sees a project without its
 * runners token, which would let it register runners.
 */
export function presentProject(project: ProjectRecord, role: Role = 'admin'): Schemas['Project'] {
  return {
    id: project.id,
    name: project.name,
    repo_url: project.repoUrl,
    runners_token: role === 'admin' ? project.runnersToken : '',
    shared_runners_enabled: project.sharedRunnersEnabled,
    build_timeout: project.buildTimeout,
    build_allow_git_fetch: project.buildAllowGitFetch,
    created_at: project.createdAt,
  };
}

export function presentPipeline(pipeline: PipelineRecord): Schemas['Pipeline'] {
  return {
    id: pipeline.id,
    project_id: pipeline.projectId,
    ref: pipeline.ref,
    sha: pipeline.sha,
    before_sha: pipeline.beforeSha,
    tag: pipeline.tag,
    status: pipeline.status,
    created_at: pipeline.createdAt,
  };
}

/** A runner and its token as API v4 answers registering, verifying and creating one: tokens never expire here. */
export function presentRunnerAuthentication(runner: { id: number; token: string }): Schemas['RunnerAuthentication'] {
  return { id: runner.id, token: runner.token, token_expires_at: null };
}

/** A registered (or just deleted) runner: its id and its token, as GitLab answered. */
export function presentRegisteredRunner(runner: { id: number; token: string }): Schemas['RegisteredRunner'] {
  return { id: runner.id, token: runner.token };
}

/** A build as the user API shows it; the archive only while it is stored and unexpired. */
export function presentJob(build: BuildRecord, runner: RunnerRecord | undefined, archive: JobArtifactRecord | undefined, now: Date): Schemas['Job'] {
  const artifacts = hasArtifacts(archive, now);
  return {
    id: build.id,
    name: build.name,
    stage: build.stage,
    status: build.status,
    ref: build.ref,
    tag: build.tag,
    when: build.when,
    allow_failure: build.allowFailure,
    created_at: build.createdAt,
    started_at: build.startedAt,
    finished_at: build.finishedAt,
    runner: runner ? { id: runner.id, description: runner.description, api_version: runner.apiVersion } : null,
    artifacts_file: artifacts ? { filename: archive.filename, size: archive.size } : null,
    artifacts_expire_at: artifacts ? archive.expireAt : null,
  };
}

/** A runner as the admin listing shows it; `online` and `status` as of `now`. */
export function presentRunner(runner: RunnerRecord, now: Date): Schemas['Runner'] {
  return {
    id: runner.id,
    description: runner.description,
    active: runner.active,
    paused: !runner.active,
    is_shared: runner.isShared,
    runner_type: runner.isShared ? 'instance_type' : 'project_type',
    api_version: runner.apiVersion,
    name: runner.name,
    online: isOnline(runner, now),
    status: runnerStatus(runner, now),
  };
}

/** A runner with its settings, what it last said about itself, and its live projects. */
export function presentRunnerDetails(runner: RunnerRecord, projects: RunnerProjectRef[], now: Date): Schemas['RunnerDetails'] {
  return {
    ...presentRunner(runner, now),
    tag_list: runner.tagList,
    run_untagged: runner.runUntagged,
    locked: runner.locked,
    access_level: runner.accessLevel,
    maximum_timeout: runner.maximumTimeout,
    maintenance_note: runner.maintenanceNote,
    version: runner.version,
    revision: runner.revision,
    platform: runner.platform,
    architecture: runner.architecture,
    contacted_at: runner.contactedAt,
    projects: projects.map((project) => ({ id: project.id, name: project.name })),
  };
}

export function presentVariable(variable: ProjectVariableRecord): Schemas['Variable'] {
  return { key: variable.key, value: variable.value };
}

/** The whole `token` when just created; afterwards only its first characters are known. */
export function presentTrigger(trigger: TriggerRecord, token: string = trigger.tokenPrefix): Schemas['Trigger'] {
  return { id: trigger.id, token, description: trigger.description, created_at: trigger.createdAt };
}

/**
 * GitLab 8.15's trigger request entity. We keep no trigger-request rows: the pipeline
 * carries the trigger and its variables, so the request's id is the pipeline's.
 */
export function presentTriggerRequest(pipeline: PipelineRecord, variables: Record<string, string> | null): Schemas['TriggerRequest'] {
  return { id: pipeline.id, variables, commit: presentPipeline(pipeline) };
}
