// The four ways GitLab 8.x's runner endpoints took their parameters (Grape on Rack), encoded
// the way curl sends them: a JSON body, `--data` (urlencoded), `--form` (multipart) and the
// query string. Nested values become Rack's form fields: `info[name]=...`, `tag_list[]=...`.
import { randomBytes } from 'node:crypto';

export type ParameterForm = 'json' | 'urlencoded' | 'multipart' | 'query';
export const PARAMETER_FORMS: readonly ParameterForm[] = ['json', 'urlencoded', 'multipart', 'query'];

export type FormField = [name: string, value: string];

/** Nested parameters as form fields: objects as `name[key]`, arrays as repeated `name[]`. */
export function formFields(parameters: Record<string, unknown>, prefix?: string): FormField[] {
  const fields: FormField[] = [];
  for (const [key, value] of Object.entries(parameters)) {
    const name = prefix ? `${prefix}[${key}]` : key;
    if (Array.isArray(value)) for (const item of value) fields.push([`${name}[]`, String(item)]);
    else if (value !== null && typeof value === 'object') fields.push(...formFields(value as Record<string, unknown>, name));
    else fields.push([name, String(value)]);
  }
  return fields;
}

export interface MultipartPart {
  name: string;
  value: string | Buffer;
  /** Makes the part a file part (`curl --form name=@file`). */
  filename?: string;
}

/** A multipart/form-data body as curl writes it: a part per field, no charset, a closing boundary. */
export function multipartBody(parts: readonly MultipartPart[], boundary = `------------------------${randomBytes(8).toString('hex')}`) {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const file = part.filename === undefined ? '' : `; filename="${part.filename}"\r\nContent-Type: application/octet-stream`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"${file}\r\n\r\n`), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

export interface EncodedRequest {
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

/** `parameters` sent to `path` in one of the four forms. */
export function encodeParameters(path: string, form: ParameterForm, parameters: Record<string, unknown>): EncodedRequest {
  switch (form) {
    case 'json':
      return { path, headers: { 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify(parameters)) };
    case 'urlencoded':
      return { path, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from(new URLSearchParams(formFields(parameters)).toString()) };
    case 'multipart': {
      const { contentType, body } = multipartBody(formFields(parameters).map(([name, value]) => ({ name, value })));
      return { path, headers: { 'Content-Type': contentType }, body };
    }
    case 'query': {
      const query = new URLSearchParams(formFields(parameters)).toString();
      return { path: query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path, headers: {}, body: undefined };
    }
  }
}
