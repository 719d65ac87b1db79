/**
 * The build as the runner receives it: GitLab 8.15's `BuildDetails` entity, with the
 * predefined variables in GitLab's order (gitlab-ci-api-v1.md §2). The runner decodes it
 * into typed Go structs, so every value has exactly the JSON type the contract gives.
 */
import type { components } from '../generated/api.js';
import { listArchives, type JobArtifactRecord } from '../store/artifacts.js';
import type { Db } from '../store/db.js';
import { findBuild, listEarlierStageBuildsOf, type BuildRecord, type BuildVariable } from '../store/builds.js';
import { findPipelines, type PipelineRecord } from '../store/pipelines.js';
import { findLiveProjects, type ProjectRecord } from '../store/projects.js';
import { findRunner, type RunnerRecord } from '../store/runners.js';
import { listVariablesOfProjects, type ProjectVariableRecord } from '../store/variables.js';
import type { Clock } from './clock.js';
import { latestPerName } from './pipelineStatus.js';

type Schemas = components['schemas'];
export type BuildDetails = Schemas['BuildDetails'];
export type BuildEntity = Schemas['Build'];

/** What we tell builds we are: the GitLab release whose API we speak. */
export const SERVER_NAME = 'GitLab';
export const SERVER_VERSION = '8.15.1';
export const SERVER_REVISION = '8.15.1';

/** Everything the payload is made of, loaded once. */
export interface BuildContext {
  build: BuildRecord;
  pipeline: PipelineRecord;
  project: ProjectRecord;
  runner: RunnerRecord | undefined;
  dependencies: BuildRecord[];
  /** The project's secret variables as they are when the payload is made (GitLab read them then too). */
  secretVariables: ProjectVariableRecord[];
  /** The archives of the build and its dependencies, by build id. */
  archives: Map<number, JobArtifactRecord>;
}

/** Loads a build with its pipeline, project, runner and dependencies, and renders its payload. */
export async function buildDetailsPayload(db: Db, clock: Clock, buildId: number): Promise<BuildDetails> {
  return presentBuildDetails(await loadBuildContext(db, buildId), clock.now());
}

/** A build whose payload is wanted, with the runner it runs on (its claimer) when the caller holds it already. */
export interface PayloadSubject {
  build: BuildRecord;
  runner: RunnerRecord | undefined;
}

export async function loadBuildContext(db: Db, buildId: number): Promise<BuildContext> {
  const build = await findBuild(db, buildId);
  if (!build) throw new Error(`build ${buildId} vanished`);
  const runner = build.runnerId === null ? undefined : await findRunner(db, build.runnerId);
  const [context] = await loadBuildContexts(db, [{ build, runner }]);
  return context!;
}

/**
 * The contexts of several builds at once (a batch of claims, see ClaimLine; or one):
 * pipelines, projects, secret variables, earlier stages and archives each read in one query
 * for all of them.
 */
export async function loadBuildContexts(db: Db, subjects: readonly PayloadSubject[]): Promise<BuildContext[]> {
  if (subjects.length === 0) return [];
  const builds = subjects.map((subject) => subject.build);
  const pipelines = await findPipelines(db, builds.map((build) => build.pipelineId));
  const projects = await findLiveProjects(db, builds.map((build) => build.projectId));
  const variables = await listVariablesOfProjects(db, builds.map((build) => build.projectId));
  // Only the earlier stages: a first-stage build of a pipeline of many jobs reads none.
  const dependencies = new Map<number, BuildRecord[]>();
  for (const [id, earlier] of await listEarlierStageBuildsOf(db, builds)) dependencies.set(id, latestPerName(earlier));
  const archives = await listArchives(db, [...builds.map((build) => build.id), ...[...dependencies.values()].flat().map((dependency) => dependency.id)]);
  return subjects.map(({ build, runner }) => {
    const pipeline = pipelines.get(build.pipelineId);
    const project = projects.get(build.projectId);
    if (!pipeline || !project) throw new Error(`build ${build.id} has no pipeline or live project`);
    const ownDependencies = dependencies.get(build.id) ?? [];
    const ownArchives = new Map<number, JobArtifactRecord>();
    for (const id of [build.id, ...ownDependencies.map((dependency) => dependency.id)]) {
      const archive = archives.get(id);
      if (archive) ownArchives.set(id, archive);
    }
    const ownRunner = runner !== undefined && runner.id === build.runnerId ? runner : undefined;
    return { build, pipeline, project, runner: ownRunner, dependencies: ownDependencies, secretVariables: variables.get(project.id) ?? [], archives: ownArchives };
  });
}

export function presentBuildDetails(context: BuildContext, now: Date): BuildDetails {
  const { build, pipeline, project, archives } = context;
  const archive = archives.get(build.id);
  return {
    ...presentBuildEntity(build, pipeline, project, archive, now),
    commands: build.commands,
    // Exactly as given: we host no git, so inserting the build token as credentials would
    // hand it to whatever host the URL names.
    repo_url: project.repoUrl,
    before_sha: pipeline.beforeSha,
    allow_git_fetch: project.buildAllowGitFetch,
    ...(hasArtifacts(archive, now) ? { artifacts_expire_at: archive.expireAt } : {}),
    options: build.options,
    timeout: project.buildTimeout,
    variables: buildVariables(context),
    depends_on_builds: context.dependencies.map((dependency) => presentBuildEntity(dependency, pipeline, project, archives.get(dependency.id), now)),
    // No container registry, so never registry credentials (GitLab sent [] when it was disabled).
    credentials: [],
  };
}

/** The plain `Build` entity, as listed in `depends_on_builds`. */
export function presentBuildEntity(
  build: BuildRecord,
  pipeline: PipelineRecord,
  project: ProjectRecord,
  archive: JobArtifactRecord | undefined,
  now: Date,
): BuildEntity {
  const entity: BuildEntity = {
    id: build.id,
    ref: build.ref,
    tag: build.tag,
    sha: pipeline.sha,
    status: build.status,
    name: build.name,
    token: build.token,
    stage: build.stage,
    project_id: project.id,
    project_name: project.name,
  };
  if (hasArtifacts(archive, now)) entity.artifacts_file = { filename: archive.filename, size: archive.size };
  return entity;
}

/** A stored archive that has not expired; an expired one is left out even before it is removed. */
export function hasArtifacts(archive: JobArtifactRecord | undefined, now: Date): archive is JobArtifactRecord {
  if (!archive) return false;
  return archive.expireAt === null || Date.parse(archive.expireAt) > now.getTime();
}

/**
 * GitLab 8.15's `Ci::Build#variables` (gitlab-ci-api-v1.md §2.1): predefined build,
 * project, pipeline and runner variables, then the YAML variables, then the project's
 * secret variables, then the pipeline's trigger variables (or, for a pipeline made through
 * the API, its request variables, treated the same), both secret. All values are strings.
 * No GITLAB_USER_* (builds have no user here), registry, deployment or environment ones.
 */
export function buildVariables({ build, pipeline, project, runner, secretVariables }: BuildContext): BuildVariable[] {
  const secret = (variable: { key: string; value: string }): BuildVariable => ({ key: variable.key, value: variable.value, public: false });
  const visible = (key: string, value: string): BuildVariable => ({ key, value, public: true });
  const variables: BuildVariable[] = [
    visible('CI', 'true'),
    visible('GITLAB_CI', 'true'),
    visible('CI_BUILD_ID', String(build.id)),
    { key: 'CI_BUILD_TOKEN', value: build.token, public: false },
    visible('CI_BUILD_REF', pipeline.sha),
    visible('CI_BUILD_BEFORE_SHA', pipeline.beforeSha),
    visible('CI_BUILD_REF_NAME', build.ref),
    visible('CI_BUILD_REF_SLUG', refSlug(build.ref)),
    visible('CI_BUILD_NAME', build.name),
    visible('CI_BUILD_STAGE', build.stage),
    visible('CI_SERVER_NAME', SERVER_NAME),
    visible('CI_SERVER_VERSION', SERVER_VERSION),
    visible('CI_SERVER_REVISION', SERVER_REVISION),
  ];
  if (build.tag) variables.push(visible('CI_BUILD_TAG', build.ref));
  if (pipeline.triggered) variables.push(visible('CI_BUILD_TRIGGERED', 'true'));
  if (build.when === 'manual') variables.push(visible('CI_BUILD_MANUAL', 'true'));
  variables.push(
    visible('CI_PROJECT_ID', String(project.id)),
    visible('CI_PROJECT_NAME', project.name),
    visible('CI_PROJECT_PATH', project.name),
    visible('CI_PROJECT_NAMESPACE', ''),
    visible('CI_PROJECT_URL', projectUrl(project.repoUrl)),
    visible('CI_PIPELINE_ID', String(pipeline.id)),
  );
  if (runner) {
    variables.push(
      visible('CI_RUNNER_ID', String(runner.id)),
      visible('CI_RUNNER_DESCRIPTION', runner.description ?? ''),
      visible('CI_RUNNER_TAGS', runner.tagList.join(', ')),
    );
  }
  variables.push(...build.yamlVariables.map((variable) => visible(variable.key, variable.value)));
  variables.push(...secretVariables.map(secret));
  variables.push(...pipeline.variables.map(secret));
  return variables;
}

/** GitLab 8.15's `ref_slug`: lower-cased, anything but [a-z0-9] replaced by `-`, at most 63 characters. */
export function refSlug(ref: string): string {
  return ref.toLowerCase().replace(/[^a-z0-9]/g, '-').slice(0, 63);
}

/**
 * Projects here have no namespace and no web page of their own, so CI_PROJECT_NAME and
 * CI_PROJECT_PATH are the project's name, CI_PROJECT_NAMESPACE is empty, and
 * CI_PROJECT_URL is the repository URL: as given, but without any user:password, since
 * the variable is public and shows up in debug traces.
 */
export function projectUrl(repoUrl: string): string {
  return repoUrl.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
