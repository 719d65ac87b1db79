import type { components } from '../generated/api.js';
import type { PipelineRecord } from '../store/pipelines.js';
import type { ProjectRecord } from '../store/projects.js';

type Schemas = components['schemas'];

/** Records → the JSON shapes of openapi.yaml. */
export function presentProject(project: ProjectRecord): Schemas['Project'] {
  return {
    id: project.id,
    name: project.name,
    repo_url: project.repoUrl,
    runners_token: project.runnersToken,
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
