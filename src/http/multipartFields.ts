import busboy from 'busboy';
import type Koa from 'koa';
import { HttpError, tooLarge } from './errors.js';
import { fieldTooLong, type FormField, type FormLimits } from './formLimits.js';
import { abandonRequestBody } from './multipartUpload.js';

/**
 * Reads a multipart/form-data body of text fields (what `curl -F name=value` sends), in
 * order and as sent. A file part is refused (400), as are more fields than the limit or a
 * field over it (400) and a body over `maxBodyBytes` (413); on a refusal the rest of the
 * body is not read and the connection closes after the answer.
 */
export async function receiveMultipartFields(ctx: Koa.Context, limits: FormLimits): Promise<FormField[]> {
  const request = ctx.req;
  let parser: busboy.Busboy;
  try {
    // Without a charset, curl sends field values as UTF-8; busboy would read them as latin1.
    // busboy truncates at one size for all fields; fieldTooLong() below holds the others to theirs.
    const fieldSize = limits.longFields.size > 0 ? limits.maxBodyBytes : limits.fieldBytes;
    parser = busboy({
      headers: request.headers,
      defCharset: 'utf8',
      defParamCharset: 'utf8',
      limits: { fields: limits.fields, parts: limits.fields, fieldSize, fieldNameSize: limits.fieldNameBytes },
    });
  } catch (err) {
    abandonRequestBody(ctx);
    throw new HttpError(400, `400 Bad request - ${err instanceof Error ? err.message : 'not a multipart body'}`);
  }
  if (Number(request.headers['content-length']) > limits.maxBodyBytes) {
    abandonRequestBody(ctx);
    throw tooLarge();
  }

  return new Promise<FormField[]>((resolve, reject) => {
    const fields: FormField[] = [];
    let received = 0;
    let settled = false;

    const fail = (err: HttpError): void => {
      if (settled) return;
      settled = true;
      request.unpipe(parser);
      request.off('data', countBytes);
      abandonRequestBody(ctx);
      parser.destroy();
      reject(err);
    };
    // A chunked body has no Content-Length to check up front.
    const countBytes = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limits.maxBodyBytes) fail(tooLarge());
    };

    parser.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated || fieldTooLong(limits, name, Buffer.byteLength(value))) {
        fail(new HttpError(400, '400 Bad request - a form field is too long'));
      } else fields.push([name, value]);
    });
    parser.on('file', (name, stream) => {
      // Destroyed with the parser below; this only keeps that from raising an unhandled 'error'.
      stream.on('error', () => undefined);
      fail(new HttpError(400, `400 Bad request - ${name} is a file: only text fields are accepted`));
    });
    const tooManyFields = () => fail(new HttpError(400, '400 Bad request - too many form fields'));
    parser.on('partsLimit', tooManyFields);
    parser.on('fieldsLimit', tooManyFields);
    parser.on('error', (err: Error) => fail(new HttpError(400, `400 Bad request - ${err.message}`)));
    parser.on('finish', () => {
      if (settled) return;
      settled = true;
      resolve(fields);
    });
    const interrupted = () => fail(new HttpError(400, '400 Bad request - the body was interrupted'));
    request.on('error', interrupted);
    request.on('close', () => {
      if (!request.complete) interrupted();
    });
    request.on('data', countBytes);
    request.pipe(parser);
  });
}
