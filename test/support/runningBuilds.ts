// Builds started the way they start in production, for tests of what a runner does with a build:
// a project and a pipeline through the user API, a specific runner registered with the project's
// runners token, and a build taken with builds/register.json.
import assert from 'node:assert/strict';
import type { components } from '../../src/generated/api.js';
import type { Clock } from '../../src/domain/clock.js';
import { RunnerSimulator, type BuildPayload } from './runnerSimulator.js';
import { startTestCoordinator, type TestCoordinator } from './coordinator.js';
import { UserApi } from './userApi.js';

type Schemas = components['schemas'];

/** Time the coordinator sees (pass it to startTestCoordinator); tests move it instead of sleeping. */
export class ManualClock implements Clock {
  private current = Date.parse('2016-12-23T12:00:00.000Z');
  now(): Date {
    return new Date(this.current);
  }
  set(at: Date): void {
    this.current = at.getTime();
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export const ONE_JOB_CONFIG = 'rspec:\n  script: rspec\n';

export interface PreparedPipeline {
  project: Schemas['Project'];
  pipeline: Schemas['Pipeline'];
  /** A specific runner of the project, allowed to run untagged builds. */
  runner: RunnerSimulator;
}

export interface RunningBuild {
  build: BuildPayload;
  runner: RunnerSimulator;
  runnersToken: string;
  projectId: number;
}

export class BuildStarter {
  private readonly runners: RunnerSimulator[] = [];

  constructor(
    private readonly coordinatorUrl: string,
    private readonly api: UserApi,
  ) {}

  async prepare(ciConfig = ONE_JOB_CONFIG, runnerDescription?: string): Promise<PreparedPipeline> {
    const project = await this.api.createProject();
    const pipeline = await this.api.createPipeline(project.id, { ci_config: ciConfig });
    const runner = await RunnerSimulator.register(this.coordinatorUrl, project.runners_token, {
      runUntagged: true,
      ...(runnerDescription ? { description: runnerDescription } : {}),
    });
    this.runners.push(runner);
    return { project, pipeline, runner };
  }

  /** The first build of a fresh pipeline, taken by a fresh runner: it is running. */
  async start(ciConfig = ONE_JOB_CONFIG): Promise<RunningBuild> {
    const { project, runner } = await this.prepare(ciConfig);
    const build = await runner.requestBuild();
    assert.ok(build, 'the runner got the build');
    return { build, runner, runnersToken: project.runners_token, projectId: project.id };
  }

  /** Closes the kept-alive connections of every runner it made. */
  close(): void {
    for (const runner of this.runners) runner.close();
  }
}

/** A real coordinator with a user-API client and a BuildStarter on it: what most build tests start from. */
export interface BuildWorld {
  coordinator: TestCoordinator;
  api: UserApi;
  builds: BuildStarter;
  stop(): Promise<void>;
}

export async function startBuildWorld(env: Record<string, string> = {}, clock?: Clock): Promise<BuildWorld> {
  const coordinator = await startTestCoordinator(env, clock);
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const builds = new BuildStarter(coordinator.url, api);
  return {
    coordinator,
    api,
    builds,
    async stop() {
      builds.close();
      await coordinator.stop();
    },
  };
}
