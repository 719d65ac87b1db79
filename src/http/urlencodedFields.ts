import type Koa from 'koa';
import getRawBody from 'raw-body';
import { HttpError } from './errors.js';
import { fieldTooLong, type FormField, type FormLimits } from './formLimits.js';

/**
 * Reads an application/x-www-form-urlencoded body into its fields, in order and as sent.
 * The body is refused with 413 as soon as it grows past `maxBodyBytes` (raw-body's error
 * carries the status); too many fields, or one too long, answer 400.
 */
export async function receiveUrlencodedFields(ctx: Koa.Context, limits: FormLimits): Promise<FormField[]> {
  const declared = ctx.get('Content-Length');
  const text = await getRawBody(ctx.req, { limit: limits.maxBodyBytes, encoding: 'utf8', ...(declared ? { length: declared } : {}) });
  return urlencodedFields(text, limits);
}

/** The fields of a query string or urlencoded text (`+` is a space, `%XX` a byte of UTF-8). */
export function urlencodedFields(text: string, limits: FormLimits): FormField[] {
  // Counted before anything is split, so thousands of `&` cost one scan and no allocation.
  let separators = 0;
  for (let at = text.indexOf('&'); at !== -1 && separators < limits.fields; at = text.indexOf('&', at + 1)) separators++;
  if (separators >= limits.fields) throw new HttpError(400, '400 Bad request - too many form fields');
  const fields: FormField[] = [];
  for (const [name, value] of new URLSearchParams(text)) {
    if (fieldTooLong(limits, name, Buffer.byteLength(value))) throw new HttpError(400, '400 Bad request - a form field is too long');
    fields.push([name, value]);
  }
  return fields;
}
