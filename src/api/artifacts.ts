import type Koa from 'koa';
import { artifactsExpiry, deleteArtifacts, openArtifacts, storeArtifacts } from '../domain/artifacts.js';
import { buildDetailsPayload } from '../domain/buildPayload.js';
import { badRequest, forbidden, HttpError, notFound } from '../http/errors.js';
import type { components } from '../generated/api.js';
import { pathInteger, type AppDeps, type Handler, type OperationHandlers } from '../http/handlers.js';
import { abandonRequestBody, discardReceivedFile, receiveMultipartFile } from '../http/multipartUpload.js';
import { sendJson } from '../http/respond.js';
import type { BuildRecord } from '../store/builds.js';
import type { CoordinatorMetrics } from '../observability/metrics.js';
import type { Db } from '../store/db.js';
import { listJobArtifacts, uploadTempDir } from '../store/artifacts.js';
import { authenticateBuild } from '../domain/buildAuth.js';
import { runsOnRunnerApi } from '../domain/jobAccessV4.js';
import { requireBuildAccess, singleValue } from './buildAccess.js';

/** The upload's parameters read before its body streams: the query's, or a JSON or urlencoded body's. */
type UploadParameters = components['requestBodies']['UploadArtifacts']['content']['multipart/form-data'];

export function artifactHandlers({ db, config, clock, metrics }: AppDeps): OperationHandlers {
  /**
   * POST builds/:id/artifacts. There is no Workhorse in front of us, so the runner's
   * chunked multipart body arrives here directly and streams to DATA_DIR/tmp, then is
   * renamed into place. Its parameters are Grape's: a form field wins over the query string
   * (`requestBody` holds the query's, or a JSON or urlencoded body's, which has no file), and
   * `token` over the BUILD-TOKEN header. An unknown build is refused before the body is read;
   * the token is checked when the first file part begins, with the fields sent before it, so
   * no file byte is read unauthorized, and again at the end if a later `token` field changed it.
   */
  const upload: Handler = async (c, ctx) => {
    const parameters = c.request.requestBody as UploadParameters;
    const headerToken = singleValue(c.request.headers['build-token']);
    const tokenFrom = (fields: ReadonlyMap<string, string>) => fields.get('token') ?? parameters.token ?? headerToken;
    let authorizedToken: string | undefined;
    const authorize = async (token: string | undefined) => {
      if (token !== undefined && token === authorizedToken) return;
      const { build } = await requireBuildAccess(db, c, token);
      if (build.status !== 'running') throw forbidden('Build is not running!');
      // A job taken through the runner API v4 uploads through it (POST /api/v4/jobs/:id/artifacts).
      if (await runsOnRunnerApi(db, build, 'v4')) throw forbidden('Build is running on a runner API v4 runner');
      authorizedToken = token;
    };
    const buildId = pathInteger(c, 'id');
    const early = await authenticateBuild(db, buildId, tokenFrom(new Map()));
    if (!early.granted && early.denial === 'unknown-build') {
      abandonRequestBody(ctx);
      throw notFound();
    }

    const received = await receiveMultipartFile(ctx, {
      fileField: 'file',
      tmpDir: uploadTempDir(config.dataDir),
      maxFileBytes: config.maxArtifactsBytes,
      beforeFile: (fields) => authorize(tokenFrom(fields)),
    });
    try {
      const token = tokenFrom(received.fields);
      await authorize(token);
      if (!received.file) {
        throw badRequest(received.fields.has('file') || parameters.file !== undefined ? 'file is not a file' : 'Missing artifacts file!');
      }
      const expireAt = expireAtOrRefuse(received.fields.get('expire_in') ?? parameters.expire_in, clock.now());
      const stored = await storeArtifacts(db, clock, config.dataDir, buildId, {
        path: received.file.path,
        size: received.file.size,
        originalFilename: received.file.filename,
      }, expireAt);
      if (!stored) {
        // Erased, or its project deleted, while the file streamed in: answered as a new request would be.
        await requireBuildAccess(db, c, token);
        throw notFound();
      }
      metrics.artifactsStored(received.file.size);
      sendJson(ctx, 201, await buildDetailsPayload(db, clock, buildId));
    } finally {
      // Already moved on success; removed on every refusal, so nothing stays in tmp.
      await discardReceivedFile(received.file);
    }
  };

  /** GET builds/:id/artifacts: any state, and expired archives too (see openArtifacts). */
  const download: Handler = async (c, ctx) => {
    const { build } = await requireBuildAccess(db, c);
    await sendArtifacts(ctx, db, config.dataDir, build, metrics);
  };

  /** DELETE builds/:id/artifacts: 200 `true` whether or not there was anything. */
  const remove: Handler = async (c, ctx) => {
    const { build } = await requireBuildAccess(db, c);
    await deleteArtifacts(db, config.dataDir, await listJobArtifacts(db, build.id));
    sendJson(ctx, 200, true);
  };

  return {
    uploadBuildArtifacts: upload,
    uploadBuildArtifactsJson: upload,
    downloadBuildArtifacts: download,
    downloadBuildArtifactsJson: download,
    deleteBuildArtifacts: remove,
    deleteBuildArtifactsJson: remove,
  };
}

/** Streams a build's archive from disk with GitLab's download headers, or 404 when there is none. */
export async function sendArtifacts(ctx: Koa.Context, db: Db, dataDir: string, build: BuildRecord, metrics: CoordinatorMetrics): Promise<void> {
  const file = await openArtifacts(db, dataDir, build.id);
  if (!file) throw notFound();
  // Counted as the bytes leave the disk: a download cut short counts what was read.
  file.stream.on('data', (chunk: Buffer | string) => metrics.artifactsServed(chunk.length));
  ctx.status = 200;
  ctx.body = file.stream;
  ctx.length = file.size;
  ctx.set('Content-Type', 'application/octet-stream');
  ctx.set('Content-Disposition', contentDisposition(file.filename));
  ctx.set('Content-Transfer-Encoding', 'binary');
  ctx.set(DOWNLOAD_SAFETY_HEADERS);
}

/**
 * An archive is whatever a build uploaded, i.e. code someone else controls: never let a
 * browser guess it is HTML (nosniff), and if one renders it anyway, give it no origin, no
 * scripts and no forms (sandbox). Every artifacts download (v1, v4, the user API) sends these.
 */
export const DOWNLOAD_SAFETY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  // allow-downloads: Chromium refuses to save an attachment whose own policy sandboxes it otherwise.
  'Content-Security-Policy': 'sandbox allow-downloads',
};

/**
 * GitLab sent `attachment; filename=<name>` unquoted. Stored names are sanitised to
 * letters, digits and `_ . - +`, so an ASCII name is a valid token as it is and goes out
 * exactly like GitLab's. A name with non-ASCII letters gets an ASCII fallback plus the
 * RFC 6266 `filename*` form, which clients prefer.
 */
export function contentDisposition(filename: string): string {
  if (/^[A-Za-z0-9_.+-]+$/.test(filename)) return `attachment; filename=${filename}`;
  const fallback = filename.replace(/[^A-Za-z0-9_.+-]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

function expireAtOrRefuse(expireIn: string | undefined, now: Date): string | null {
  const expiry = artifactsExpiry(expireIn, now);
  if (!expiry.valid) {
    throw new HttpError(400, '400 Bad request - expire_in is not a duration (e.g. "7 days", "1 week", "30 mins", "2h")');
  }
  return expiry.expireAt;
}
