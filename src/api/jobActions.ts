import type { Context as OpenApiContext } from 'openapi-backend';
import { cancelBuild, eraseBuild, IllegalTransition, playBuild, retryBuild, SubjectGone } from '../domain/buildActions.js';
import { HttpError, notFound } from '../http/errors.js';
import type { AppDeps, Handler, OperationHandlers } from '../http/handlers.js';
import { sendJson } from '../http/respond.js';
import type { BuildRecord } from '../store/builds.js';
import { presentJobs } from './jobs.js';
import { requireProjectJob } from './projectAccess.js';

/** cancel, retry, play and erase of one job; each answers the job it leaves behind (for retry, the new one). */
export function jobActionHandlers({ db, config, clock, buildSignals }: AppDeps): OperationHandlers {
  const action = (status: number, act: (build: BuildRecord) => Promise<BuildRecord>): Handler => async (c: OpenApiContext, ctx) => {
    const build = await requireProjectJob(db, c);
    const after = await act(build).catch(actionRefusal);
    // A canceled or erased job's live trace ends (or resets) at once.
    buildSignals.changed(build.id);
    sendJson(ctx, status, (await presentJobs(db, [after], clock.now()))[0]);
  };
  return {
    cancelJob: action(201, (build) => cancelBuild(db, clock, build)),
    retryJob: action(201, (build) => retryBuild(db, clock, build)),
    playJob: action(200, (build) => playBuild(db, clock, build)),
    eraseJob: action(201, (build) => eraseBuild(db, clock, config.dataDir, build)),
  };
}

/** A refused build or pipeline action as its HTTP answer: 400 naming the status, or 404 when it vanished meanwhile. */
export function actionRefusal(err: unknown): never {
  if (err instanceof IllegalTransition) throw new HttpError(400, `400 Bad request - ${err.message}`);
  if (err instanceof SubjectGone) throw notFound();
  throw err;
}
