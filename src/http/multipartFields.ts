import busboy from 'busboy';
import type Koa from 'koa';
import qs from 'qs';
import { HttpError, tooLarge } from './errors.js';
import { abandonRequestBody } from './multipartUpload.js';

// A trigger form is a token, a ref and its variables: room for many variables, while a
// hostile form still cannot make us buffer or parse without end.
const FIELD_LIMITS: busboy.Limits = { fields: 200, parts: 200, fieldSize: 64 * 1024, fieldNameSize: 200 };

/**
 * Reads a multipart/form-data body of text fields (what `curl -F name=value` sends) into
 * the object the same fields sent urlencoded would give: koa-body parses those with qs and
 * co-body's options (`allowDots`), so `variables[KEY]=value` becomes `{variables: {KEY: value}}`
 * either way. A file part is refused (400), as is a body over `maxBodyBytes` (413); on a
 * refusal the rest of the body is not read and the connection closes after the answer.
 */
export async function receiveMultipartFields(ctx: Koa.Context, maxBodyBytes: number): Promise<unknown> {
  const request = ctx.req;
  let parser: busboy.Busboy;
  try {
    // Without a charset, curl sends field values as UTF-8; busboy would read them as latin1.
    parser = busboy({ headers: request.headers, defCharset: 'utf8', defParamCharset: 'utf8', limits: FIELD_LIMITS });
  } catch (err) {
    abandonRequestBody(ctx);
    throw new HttpError(400, `400 Bad request - ${err instanceof Error ? err.message : 'not a multipart body'}`);
  }
  if (Number(request.headers['content-length']) > maxBodyBytes) {
    abandonRequestBody(ctx);
    throw tooLarge();
  }

  return new Promise<unknown>((resolve, reject) => {
    // Kept in order and as a query string, so that qs sees exactly what a urlencoded body gives it.
    const form = new URLSearchParams();
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
      if (received > maxBodyBytes) fail(tooLarge());
    };

    parser.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated) fail(new HttpError(400, '400 Bad request - a form field is too long'));
      else form.append(name, value);
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
      resolve(qs.parse(form.toString(), { allowDots: true }));
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
