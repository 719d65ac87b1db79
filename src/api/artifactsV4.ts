/**
 * The runner API v4's artifacts (runner-protocol-v4.md §5): the same streaming, limits and
 * atomic storage as /ci/api/v1 (src/api/artifacts.ts, src/domain/artifacts.ts), with v4's
 * job-token authentication and several artifacts per job.
 */
import { artifactKindOf, type ArtifactFormat, type ArtifactType } from '../domain/artifactKinds.js';
import { artifactsExpiry, storeArtifacts, type ArtifactKind } from '../domain/artifacts.js';
import { authenticateArtifactsDownload, authenticateRunningV4Job, type RunningJobAccess } from '../domain/jobAccessV4.js';
import { badRequest, forbidden, HttpError } from '../http/errors.js';
import { pathInteger, type AppDeps, type Handler, type OperationHandlers } from '../http/handlers.js';
import { abandonRequestBody, discardReceivedFile, receiveMultipartFile } from '../http/multipartUpload.js';
import { annotateRequest } from '../http/requestContext.js';
import { sendJson } from '../http/respond.js';
import { uploadTempDir } from '../store/artifacts.js';
import { sendArtifacts } from './artifacts.js';
import { singleValue } from './buildAccess.js';

interface UploadQuery {
  artifact_type?: ArtifactType;
  artifact_format?: ArtifactFormat;
  expire_in?: string;
  token?: string;
}

/** The job token: the `JOB-TOKEN` header gitlab-runner sends, else a `token` parameter. */
function jobTokenOf(headers: Record<string, string | string[] | undefined>, query: { token?: string }): string | undefined {
  return singleValue(headers['job-token']) ?? query.token;
}

function uploadRefusal(access: Extract<RunningJobAccess, { granted: false }>): HttpError {
  switch (access.denial) {
    case 'project-deleted':
      return forbidden('Project has been deleted!');
    case 'job-erased':
      return forbidden('Job has been erased!');
    case 'not-running':
      // Job-Status tells the runner the job is over, so it stops (runner-protocol-v4.md §3.3).
      return new HttpError(403, '403 Forbidden  - Job is not running', { 'Job-Status': access.build?.status ?? 'failed' });
    case 'other-api':
      return forbidden('Job is not running on a runner API v4 runner');
    default:
      // Unknown job or wrong token: 403, not 404, so that the runner stops (GitLab's authenticate_job!).
      return forbidden();
  }
}

export function artifactV4Handlers({ db, config, clock, metrics }: AppDeps): OperationHandlers {
  /**
   * POST jobs/:id/artifacts. Everything is checked before a byte of the body is read (the
   * runner sends its parameters in the query and its token as a header); a refusal closes
   * the connection instead of reading the rest. The file streams to DATA_DIR/tmp and is
   * renamed into place, as in v1.
   */
  const upload: Handler = async (c, ctx) => {
    const buildId = pathInteger(c, 'id');
    annotateRequest(c, { buildId });
    const query = c.request.query as UploadQuery;
    let expireAt: string | null;
    let kind: ArtifactKind;
    try {
      const outcome = artifactKindOf(query.artifact_type, query.artifact_format);
      if (!outcome.valid) throw new HttpError(400, `400 Bad request - ${outcome.reason}`);
      kind = outcome.kind;
      expireAt = expireAtOrRefuse(query.expire_in, clock.now());
      const access = await authenticateRunningV4Job(db, buildId, jobTokenOf(c.request.headers, query));
      if (!access.granted) throw uploadRefusal(access);
      if (access.build.runnerId !== null) annotateRequest(c, { runnerId: access.build.runnerId });
    } catch (refusal) {
      abandonRequestBody(ctx);
      throw refusal;
    }

    const received = await receiveMultipartFile(ctx, { fileField: 'file', tmpDir: uploadTempDir(config.dataDir), maxFileBytes: config.maxArtifactsBytes });
    try {
      if (!received.file) throw badRequest(received.fields.has('file') ? 'file is not a file' : 'Missing artifacts file!');
      const stored = await storeArtifacts(
        db,
        clock,
        config.dataDir,
        buildId,
        { path: received.file.path, size: received.file.size, originalFilename: received.file.filename },
        expireAt,
        kind,
      );
      // Erased, or its project deleted, while the file streamed in: nothing is kept.
      if (!stored) throw forbidden();
      metrics.artifactsStored(received.file.size);
      sendJson(ctx, 201, 201);
    } finally {
      // Already moved on success; removed on every refusal, so nothing stays in tmp.
      await discardReceivedFile(received.file);
    }
  };

  /** GET jobs/:id/artifacts: the job's `archive`, as the dependency downloader fetches it. */
  const download: Handler = async (c, ctx) => {
    const buildId = pathInteger(c, 'id');
    annotateRequest(c, { buildId });
    const access = await authenticateArtifactsDownload(db, buildId, jobTokenOf(c.request.headers, c.request.query as { token?: string }));
    if (!access.granted) {
      if (access.denial === 'unauthenticated') throw new HttpError(401, '401 Unauthorized');
      if (access.denial === 'project-deleted') throw forbidden('Project has been deleted!');
      throw forbidden();
    }
    await sendArtifacts(ctx, db, config.dataDir, access.build, metrics);
  };

  return { uploadJobArtifactsV4: upload, downloadJobArtifactsV4: download };
}

/** v1's durations, and `never` (GitLab 12.x+), which keeps the artifact for good. */
function expireAtOrRefuse(expireIn: string | undefined, now: Date): string | null {
  if (expireIn?.trim().toLowerCase() === 'never') return null;
  const expiry = artifactsExpiry(expireIn, now);
  if (!expiry.valid) throw new HttpError(400, '400 Bad request - expire_in is not a duration (e.g. "7d", "1 week", "30 mins") or "never"');
  return expiry.expireAt;
}
