// Registers runners for the v4 jobs tests through POST /api/v4/runners, as gitlab-runner does.
import { RunnerV4Api, type RunnerAuthentication } from './runnerV4Api.js';

export async function registerTestRunner(baseUrl: string, token: string, fields: Record<string, unknown> = {}): Promise<RunnerAuthentication> {
  return new RunnerV4Api(baseUrl).registerRunner({ token, ...fields });
}
