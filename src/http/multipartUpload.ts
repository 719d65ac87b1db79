import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type Koa from 'koa';
import { HttpError, tooLarge } from './errors.js';
import { FORM_FIELD_BYTES, FORM_FIELD_NAME_BYTES, FORM_FIELDS } from './formLimits.js';

export interface ReceivedFile {
  /** A complete, fsynced temporary file under `tmpDir`; the caller moves or deletes it. */
  path: string;
  size: number;
  /** As the client sent it: never use it as a path. */
  filename: string | undefined;
}

export interface MultipartUpload {
  file: ReceivedFile | undefined;
  /** The plain form fields. */
  fields: ReadonlyMap<string, string>;
}

export interface MultipartFileOptions {
  /** The name of the one file part that is kept; other file parts are skipped. */
  fileField: string;
  tmpDir: string;
  /** The file is accepted only while smaller than this (GitLab: `size < max`). */
  maxFileBytes: number;
  /**
   * Runs once, when the first file part begins (the kept one or another), with the fields
   * sent before it. Throwing refuses the upload before a byte of any file part is read.
   */
  beforeFile?: (fields: ReadonlyMap<string, string>) => Promise<void>;
}

/**
 * For an answer given before (or instead of) reading the body: stop reading, and close
 * the connection after the answer rather than drain what may be megabytes of upload.
 */
export function abandonRequestBody(ctx: Koa.Context): void {
  ctx.req.pause();
  ctx.set('Connection', 'close');
}

/** Deletes a received file that was not moved into place; harmless when it was. */
export async function discardReceivedFile(file: ReceivedFile | undefined): Promise<void> {
  if (file) await fsp.rm(file.path, { force: true });
}

/** The runner sends one file part (Workhorse added a metadata one); a few more are skipped, more than this refused. */
export const MAX_FILE_PARTS = 4;
/**
 * What the whole upload body may hold beyond the file: the part headers, the fields and
 * the boundaries. Counted as the body streams, so skipped parts cannot make it endless.
 */
export const UPLOAD_OVERHEAD_BYTES = 1024 * 1024;

/**
 * What the temporary file's stream buffers before it asks the body to wait. At the 16 KiB
 * default it was full after nearly every piece busboy hands on, so the socket was paused and
 * resumed about once per 32 KiB of body and every piece was a write of its own (256 MiB:
 * about 35,000 writes and 8,700 epoll_ctl calls, strace). With 1 MiB, the pieces that arrive
 * while a write is under way go out together in one writev (about 470 for 256 MiB) and the
 * body keeps flowing: about a third less CPU per GiB (bench/README.md, artifact upload), for
 * at most this much more memory per upload in flight.
 */
const UPLOAD_WRITE_BUFFER_BYTES = 1024 * 1024;

// The fields next to the file (token, expire_in) are held to the bounds of every other form,
// so a hostile one cannot make us buffer or parse without end.
const FIELD_LIMITS: busboy.Limits = {
  fields: FORM_FIELDS,
  fieldSize: FORM_FIELD_BYTES,
  parts: FORM_FIELDS,
  fieldNameSize: FORM_FIELD_NAME_BYTES,
  files: MAX_FILE_PARTS,
};


/**
 * Streams a multipart/form-data body (the runner sends it chunked, with no
 * Content-Length) and writes the one file part to a temporary file, never holding it in
 * memory. A field given twice is refused (400): it would be unclear which one counts. When
 * the file reaches `maxFileBytes`, or anything else goes wrong, it stops reading at once,
 * deletes what it wrote, and rejects while the client may still be sending; the answer then
 * carries `Connection: close`, since the rest of the body is never read. A body that is not
 * multipart at all has no file.
 */
export async function receiveMultipartFile(ctx: Koa.Context, options: MultipartFileOptions): Promise<MultipartUpload> {
  const request = ctx.req;
  const parser = multipartParser(request.headers);
  if (!parser) {
    abandonRequestBody(ctx);
    return { file: undefined, fields: new Map() };
  }

  return new Promise<MultipartUpload>((resolve, reject) => {
    const fields = new Map<string, string>();
    let fileTask: Promise<ReceivedFile> | undefined;
    let settled = false;

    const abort = (err: unknown): void => {
      if (settled) return;
      settled = true;
      request.unpipe(parser);
      abandonRequestBody(ctx);
      // Destroying the parser destroys the file stream, so a write in progress fails and
      // removes its temporary file; a file already received is removed here. Answer only
      // once that is done, so nothing is left in tmp when the client hears back.
      parser.destroy();
      void (fileTask ?? Promise.resolve(undefined)).then(discardReceivedFile, () => undefined).then(() => reject(err));
    };

    let admission: Promise<void> | undefined;
    /** beforeFile, once; file parts wait for it unread (busboy holds the body meanwhile). */
    const admitFiles = (): Promise<void> => (admission ??= options.beforeFile ? options.beforeFile(new Map(fields)) : Promise.resolve());

    const saveFile = async (stream: Readable, filename: string | undefined): Promise<ReceivedFile> => {
      await admitFiles();
      if (settled) throw new Error('upload aborted');
      await fsp.mkdir(options.tmpDir, { recursive: true });
      const tempPath = path.join(options.tmpDir, `upload-${randomUUID()}`);
      let size = 0;
      const sizeLimit = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          done(size >= options.maxFileBytes ? tooLarge() : null, chunk);
        },
      });
      try {
        // flush: fsync before close, so the file is on disk before it is renamed into place.
        await pipeline(stream, sizeLimit, fs.createWriteStream(tempPath, { flags: 'wx', flush: true, highWaterMark: UPLOAD_WRITE_BUFFER_BYTES }));
        if (size >= options.maxFileBytes) throw tooLarge(); // an empty file when the limit is 0
        return { path: tempPath, size, filename };
      } catch (err) {
        await fsp.rm(tempPath, { force: true });
        throw err;
      }
    };

    /** A file part we don't keep is read and dropped, within the same size bound. */
    const skip = (stream: Readable): void => {
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size >= options.maxFileBytes) abort(tooLarge());
      });
    };

    parser.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated) abort(new HttpError(400, '400 Bad request - a form field is too long'));
      else if (fields.has(name)) abort(new HttpError(400, `400 Bad request - ${name} is given more than once`));
      else fields.set(name, value);
    });
    parser.on('file', (name, stream, info) => {
      // Its failures reach us through the parser or the pipeline below; this only keeps a
      // stream destroyed by abort() from raising an unhandled 'error'.
      stream.on('error', () => undefined);
      if (name !== options.fileField || fileTask) {
        admitFiles().then(() => skip(stream), abort);
        return;
      }
      fileTask = saveFile(stream, info.filename);
      fileTask.catch(abort);
    });
    const tooManyParts = () => abort(new HttpError(400, '400 Bad request - too many form fields'));
    parser.on('partsLimit', tooManyParts);
    parser.on('fieldsLimit', tooManyParts);
    parser.on('filesLimit', () => abort(new HttpError(400, `400 Bad request - more than ${MAX_FILE_PARTS} file parts`)));
    let received = 0;
    const countBytes = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > options.maxFileBytes + UPLOAD_OVERHEAD_BYTES) {
        request.off('data', countBytes);
        abort(tooLarge());
      }
    };
    request.on('data', countBytes);
    parser.on('error', (err: Error) => abort(new HttpError(400, `400 Bad request - ${err.message}`)));
    // 'finish' comes only after every file part was read to its end.
    parser.on('finish', () => {
      (fileTask ?? Promise.resolve(undefined)).then((file) => {
        if (settled) {
          void discardReceivedFile(file);
          return;
        }
        settled = true;
        resolve({ file, fields });
      }, abort);
    });
    // The client went away mid-body: nobody hears the answer, but the temporary file must go.
    const interrupted = () => abort(new HttpError(400, '400 Bad request - the upload was interrupted'));
    request.on('error', interrupted);
    request.on('close', () => {
      if (!request.complete) interrupted();
    });
    request.pipe(parser);
  });
}

/** A parser for a multipart/form-data request, or undefined when the body is something else. */
function multipartParser(headers: IncomingHttpHeaders): busboy.Busboy | undefined {
  try {
    // preservePath: the client's filename arrives whole, and the caller sanitises it.
    // Without a charset, curl sends field values as UTF-8; busboy would read them as latin1.
    return busboy({ headers, preservePath: true, defCharset: 'utf8', defParamCharset: 'utf8', limits: FIELD_LIMITS });
  } catch {
    return undefined;
  }
}
