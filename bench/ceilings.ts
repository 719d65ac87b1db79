/**
 * What the least a runner's poll must do costs, with no coordinator behind it: two Koa apps
 * measured beside bare Koa in the idle-poll and claim scenarios, so that every run shows how
 * much of issue 7's ratio is left for the contract's own work (validation, authentication, the
 * queue, the durable claim).
 *
 * - idle poll: read the runner's JSON body, parse it, take the SHA-256 digest of its token (how
 *   a runner is looked up), answer 204 with the queue version header.
 * - claim: read and parse the body, answer 201 with a real build payload (as the coordinator
 *   presents one), serialised afresh for every request as each claim's payload is its own.
 */
import crypto from 'node:crypto';
import Koa from 'koa';
import { queuePendingBuilds, registerRunners } from '../test/support/claimStorm.js';
import { listenKoa, postJson, startBenchCoordinator } from './support.js';

export type CeilingServer = Awaited<ReturnType<typeof listenKoa>>;

/** 204 after the body is read, parsed and its token digested. */
export function startIdlePollCeiling(): Promise<CeilingServer> {
  return serve((ctx, body) => {
    crypto.createHash('sha256').update(String(body.token)).digest('hex');
    ctx.set('X-GitLab-Last-Update', '0');
    ctx.status = 204;
  });
}

/** 201 with `payload` (each answer a copy with its own id) after the body is read and parsed. */
export function startClaimCeiling(payload: Record<string, unknown>): Promise<CeilingServer> {
  let id = Number(payload.id);
  return serve((ctx) => {
    ctx.status = 201;
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ ...payload, id: (id += 1) });
  });
}

/**
 * What a runner of the claim scenario sends (`body`) and gets (`payload`: a build of a pipeline
 * of 100 jobs), from a real coordinator.
 */
export async function realClaimExchange(): Promise<{ body: string; payload: Record<string, unknown> }> {
  const coordinator = await startBenchCoordinator('sqlite');
  try {
    await queuePendingBuilds(coordinator, 100);
    const [token] = await registerRunners(coordinator, 1);
    const reply = await postJson(coordinator.url, '/ci/api/v1/builds/register.json', { token });
    if (reply.status !== 201) throw new Error(`no build for the claim ceiling's payload: ${reply.status}`);
    return { body: JSON.stringify({ token }), payload: reply.body };
  } finally {
    await coordinator.stop();
  }
}

type Answer = (ctx: Koa.Context, body: Record<string, unknown>) => void;

function serve(answer: Answer): Promise<CeilingServer> {
  const app = new Koa();
  app.use(async (ctx) => {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    if (typeof body.token !== 'string') {
      ctx.status = 400;
      return;
    }
    answer(ctx, body);
  });
  return listenKoa(app);
}
