/**
 * Runner API v4, jobs: `POST /api/v4/jobs/request` and `PUT /api/v4/jobs/:id`. Thin: the
 * queue and claim are v1's (requestBuild), the payload is presented by jobPayload.ts, the
 * state change is jobUpdate.ts.
 */
import { requestBuild } from '../domain/buildRequest.js';
import { updateJobState, type JobStateUpdate } from '../domain/jobUpdate.js';
import { recordRunnerContact } from '../domain/runnerContact.js';
import { clientGoneSignal } from '../http/clientGone.js';
import { forbidden, HttpError } from '../http/errors.js';
import type { AppDeps, JsonBody, OperationHandlers } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';
import { sendJson, sendNoContent, sendText } from '../http/respond.js';
import { findRunner } from '../store/runners.js';
import { requireUpdatableJob, setJobStatus, traceUpdateInterval } from './jobAccess.js';
import { presentJobPayload } from './jobPayload.js';
import { LAST_UPDATE_HEADER } from './builds.js';

const STATES: ReadonlySet<string> = new Set(['running', 'success', 'failed']);

export function v4JobHandlers(deps: AppDeps): OperationHandlers {
  const { db, clock, metrics, buildSignals, config, runnerQueues, runnerContacts } = deps;
  return {
    async requestJob(c, ctx) {
      const body = c.request.requestBody as JsonBody<'requestJob'>;
      const gone = clientGoneSignal(ctx);
      // The runner as this process knows it (src/domain/longPolls.ts), as for v1.
      const entry = await runnerQueues.lookup(body.token, 'v4');
      if (!entry) {
        metrics.buildRequest('v4', 'forbidden');
        throw forbidden();
      }
      const { runner } = entry.polling;
      annotateRequest(c, { runnerId: runner.id });
      // GitLab records a v4 runner's contact (and its host, system_id) before anything else, paused or
      // not; here in batches with other runners' (never a write per poll).
      await runnerContacts.record(runner, body.info);
      if (body.system_id) await runnerContacts.recordManager(runner.id, body.system_id);
      const outcome = runner.active
        ? await requestBuild(deps, entry, {
            api: 'v4',
            holdMs: config.longPollMs,
            gone,
            lastUpdate: body.last_update,
            reload: () => runnerQueues.lookup(body.token, 'v4'),
            cancelGracefully: body.info?.features?.cancel_gracefully === true,
          })
        : ({ kind: 'paused', version: entry.version } as const);
      switch (outcome.kind) {
        case 'build': {
          const { build } = outcome;
          metrics.buildRequest('v4', 'build');
          metrics.buildClaimed('v4', outcome.claimSeconds, build.queuedAt, clock.now());
          annotateRequest(c, { buildId: build.id });
          sendJson(ctx, 201, presentJobPayload(outcome.context, clock.now()));
          return;
        }
        case 'deleted':
          metrics.buildRequest('v4', 'forbidden');
          throw forbidden();
        case 'paused':
        case 'gone':
        case 'none':
          // v4 runners expect 204 for all of these, never 404 (a paused runner too).
          metrics.buildRequest('v4', outcome.kind === 'paused' ? 'paused' : 'none');
          ctx.set(LAST_UPDATE_HEADER, 'version' in outcome ? outcome.version : entry.version);
          sendNoContent(ctx);
      }
    },

    async updateJob(c, ctx) {
      const body = c.request.requestBody as JsonBody<'updateJob'>;
      const { build } = await requireUpdatableJob(db, c);
      if (body.state === undefined || !STATES.has(body.state)) {
        throw new HttpError(400, `400 Bad request - state must be running, success or failed, not ${JSON.stringify(body.state ?? null)}`);
      }
      const runner = build.runnerId === null ? undefined : await findRunner(db, build.runnerId);
      if (runner) await recordRunnerContact(db, clock, runner, body.info);
      const update: JobStateUpdate = {
        state: body.state as JobStateUpdate['state'],
        failureReason: body.failure_reason,
        exitCode: body.exit_code,
        checksum: body.output?.checksum ?? body.checksum,
        bytesize: body.output?.bytesize,
      };
      const outcome = await updateJobState(db, clock, build, update);
      setJobStatus(ctx, outcome.status);
      if (outcome.kind === 'refused') throw new HttpError(403, '403 Forbidden - Job is not running', { 'Job-Status': outcome.status });
      if (outcome.kind === 'wait') {
        ctx.set('X-GitLab-Trace-Update-Interval', String(outcome.retryInSeconds));
        sendText(ctx, 202, '202');
        return;
      }
      // A keep-alive learns how often to send the log; a final update (as in GitLab) nothing more.
      if (update.state === 'running') ctx.set('X-GitLab-Trace-Update-Interval', String(traceUpdateInterval(buildSignals.isWatched(build.id), outcome.status)));
      else buildSignals.changed(build.id);
      sendText(ctx, 200, '200');
    },
  };
}
