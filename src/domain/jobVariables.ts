/**
 * The variables of a job as runner API v4 sends them: GitLab's v4 predefined names
 * (`CI_JOB_*`, `CI_COMMIT_*`) first, then everything v1 sends (the
 * `CI_BUILD_*` names, which GitLab kept sending beside them, project, runner, YAML and
 * secret variables) in v1's order, so a script written for either works.
 */
import type { BuildVariable } from '../store/builds.js';
import { buildVariables, refSlug, type BuildContext } from './buildPayload.js';
import { MIN_MASKED_VALUE_LENGTH } from './traceMasking.js';

export interface JobVariable {
  key: string;
  value: string;
  public: boolean;
  /** The runner masks it in the log itself (we mask too, see traces.ts). */
  masked: boolean;
}

export function jobVariables(context: BuildContext): JobVariable[] {
  const { build, pipeline } = context;
  const visible = (key: string, value: string): BuildVariable => ({ key, value, public: true });
  const v4: BuildVariable[] = [
    visible('CI_JOB_ID', String(build.id)),
    { key: 'CI_JOB_TOKEN', value: build.token, public: false },
    visible('CI_JOB_NAME', build.name),
    visible('CI_JOB_STAGE', build.stage),
    visible('CI_COMMIT_SHA', pipeline.sha),
    visible('CI_COMMIT_SHORT_SHA', pipeline.sha.slice(0, 8)),
    visible('CI_COMMIT_BEFORE_SHA', pipeline.beforeSha),
    visible('CI_COMMIT_REF_NAME', build.ref),
    visible('CI_COMMIT_REF_SLUG', refSlug(build.ref)),
    build.tag ? visible('CI_COMMIT_TAG', build.ref) : visible('CI_COMMIT_BRANCH', build.ref),
  ];
  if (pipeline.triggered) v4.push(visible('CI_PIPELINE_TRIGGERED', 'true'));
  if (build.when === 'manual') v4.push(visible('CI_JOB_MANUAL', 'true'));
  // CI_PIPELINE_ID is a v4 name that v1 already sent, in v1's place.
  const [ci, gitlabCi, ...v1] = buildVariables(context);
  return [ci, gitlabCi, ...v4, ...v1].filter((variable) => variable !== undefined).map(withMasking);
}

/**
 * The secret values the runner can mask: GitLab's rule for masked variables (at least eight
 * characters, one line). Shorter secrets are left to our own masking, which has the same
 * minimum for variables and masks the tokens whatever their length.
 */
function withMasking(variable: BuildVariable): JobVariable {
  const maskable = !variable.public && variable.value.length >= MIN_MASKED_VALUE_LENGTH && !/[\r\n]/.test(variable.value);
  return { key: variable.key, value: variable.value, public: variable.public, masked: maskable };
}
