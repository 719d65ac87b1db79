/**
 * What does reading a runner's parameters from a form cost next to JSON? Empty-queue polls
 * (`builds/register.json`, answered 204) with the token and `info` as a JSON body, a urlencoded
 * form, a multipart form and the query string, on one coordinator, interleaved in rounds (each
 * starting with another form) so that the machine's noise falls on every form alike. Polls run 8 at a time.
 */
import http from 'node:http';
import { startTestCoordinator } from '../test/support/coordinator.js';
import { encodeParameters, PARAMETER_FORMS, type ParameterForm } from '../test/support/parameterForms.js';
import { formatRate, postJson } from './support.js';

const POLLS = Number(process.env.FORM_POLLS ?? 2000);
const ROUNDS = 4;
const CONCURRENCY = 8;
const INFO = { name: 'gitlab-ci-multi-runner', version: '1.11.5', revision: 'cbfcb5c8', platform: 'linux', architecture: 'amd64' };

export async function benchParameterForms(): Promise<string[]> {
  const coordinator = await startTestCoordinator();
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const runner = await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: coordinator.registrationToken });
    const parameters = { token: String(runner.body.token), info: INFO };
    const ms: Record<string, number> = {};
    const statuses: Record<string, Record<number, number>> = {};
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts with another form, so that no form always runs first.
      for (const form of [...PARAMETER_FORMS.slice(round % PARAMETER_FORMS.length), ...PARAMETER_FORMS.slice(0, round % PARAMETER_FORMS.length)]) {
        const result = await poll(coordinator.url, agent, form, parameters, POLLS / ROUNDS);
        ms[form] = (ms[form] ?? 0) + result.ms;
        for (const [status, count] of Object.entries(result.statuses)) (statuses[form] ??= {})[Number(status)] = (statuses[form]?.[Number(status)] ?? 0) + count;
      }
    }
    const lines = PARAMETER_FORMS.map((form) => `${formatRate(`poll with ${form} parameters`, POLLS, ms[form]!)} (statuses ${JSON.stringify(statuses[form])})`);
    lines.push(`ratio to JSON: ${PARAMETER_FORMS.filter((form) => form !== 'json').map((form) => `${form} ${(ms[form]! / ms.json!).toFixed(2)}`).join(', ')}`);
    return lines;
  } finally {
    agent.destroy();
    await coordinator.stop();
  }
}

async function poll(url: string, agent: http.Agent, form: ParameterForm, parameters: Record<string, unknown>, count: number) {
  const request = encodeParameters('/ci/api/v1/builds/register.json', form, parameters);
  const statuses: Record<number, number> = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < count) {
        const status = await send(new URL(request.path, url), agent, request.headers, request.body);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  return { ms: performance.now() - started, statuses };
}

function send(url: URL, agent: http.Agent, headers: Record<string, string>, body: Buffer | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'User-Agent': 'gitlab-ci-multi-runner 1.11.5 (bench; go1.8; linux/amd64)', ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
