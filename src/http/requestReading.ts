import type Koa from 'koa';
import { HttpMethodEnum, koaBody } from 'koa-body';
import type { Operation } from 'openapi-backend';
import qs from 'qs';
import { HttpError } from './errors.js';
import { formLimits, type FormLimits } from './formLimits.js';
import { formParameters } from './formParameters.js';
import { isPlainObject, type FormSchema } from './formSchema.js';
import { receiveJson } from './jsonBody.js';
import { receiveMultipartFields } from './multipartFields.js';
import { abandonRequestBody } from './multipartUpload.js';
import { receiveUrlencodedFields, urlencodedFields } from './urlencodedFields.js';

/**
 * How an operation's request is read before openapi-backend validates it. The operation is
 * matched first, so that each body meets only the parser meant for it:
 * - `parameters`: GitLab 8.x's runner endpoints (Grape on Rack), whose parameters come from a
 *   JSON body, a urlencoded or multipart form, or the query string; see readParameters().
 *   `longFields` may be as long as the body (the `trace` of PUT builds/:id).
 * - `upload`: the same, except that a multipart body (the artifacts upload) is left unread for
 *   the handler to stream, and so is any body that is neither JSON nor a urlencoded form.
 * - `raw`: the body is never read here, whatever its Content-Type, so its handler gets the
 *   bytes (the trace PATCH); the query string is read as for `parameters`.
 * - `textForms`: JSON and urlencoded bodies (koa-body), and multipart text fields (the trigger
 *   endpoints, which GitLab documents with `curl -F`), nested with qs as koa-body nests forms.
 * Any operation not given one (and a request that matches none) gets `default`: JSON and
 * urlencoded bodies parsed by koa-body; a multipart body stands in as an empty form.
 */
export type RequestReading =
  | { kind: 'parameters'; longFields?: readonly string[] }
  | { kind: 'upload' }
  | { kind: 'raw' }
  | { kind: 'textForms' }
  | { kind: 'default' };

/** What openapi-backend is handed to validate: the query and the body, as read. */
export interface ReadRequest {
  query: Record<string, unknown>;
  body: unknown;
}

/** `maxBodyBytes`: the operation's own body limit (see bodyLimits.ts). */
export type RequestReader = (ctx: Koa.Context, operation: Operation | undefined, reading: RequestReading, maxBodyBytes: number) => Promise<ReadRequest>;

export function createRequestReader(): RequestReader {
  // One koa-body per limit in use (there are three or so), made on first use.
  const koaBodies = new Map<number, Koa.Middleware>();
  const jsonAndFormsWithin = (maxBodyBytes: number): Koa.Middleware => {
    let parser = koaBodies.get(maxBodyBytes);
    if (!parser) {
      parser = koaBody({
        json: true,
        urlencoded: true,
        text: false,
        multipart: false,
        jsonLimit: maxBodyBytes,
        formLimit: maxBodyBytes,
        parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.PUT, HttpMethodEnum.PATCH, HttpMethodEnum.DELETE],
      }) as unknown as Koa.Middleware;
      koaBodies.set(maxBodyBytes, parser);
    }
    return parser;
  };

  /**
   * The body's parameters: undefined when there is no body (or none this reading reads), a JSON
   * value as sent (its types are the client's), or a form's fields typed by the schema.
   */
  const bodyParameters = async (ctx: Koa.Context, schema: FormSchema | undefined, limits: FormLimits, upload: boolean): Promise<unknown> => {
    const { maxBodyBytes } = limits;
    if (!hasBody(ctx)) return undefined;
    // The Content-Type parsed once for all three kinds, which exclude each other (every runner
    // poll comes this way: issue 7).
    const kind = ctx.is('json', 'urlencoded', 'multipart');
    if (kind === 'multipart') return upload ? undefined : formParameters(await receiveMultipartFields(ctx, limits), schema);
    if (kind === 'urlencoded') return formParameters(await receiveUrlencodedFields(ctx, limits), schema);
    // JSON is the API's default format in Grape: a body without a Content-Type is read as JSON.
    if (kind === 'json' || !ctx.get('Content-Type')) return receiveJson(ctx, maxBodyBytes);
    if (upload) return undefined;
    abandonRequestBody(ctx);
    throw new HttpError(415, '415 Unsupported Media Type - send the parameters as JSON, a urlencoded or multipart form, or in the query string');
  };

  /**
   * Grape's `params`: Rack's `GET.merge(POST)`, so a parameter of the body (JSON, urlencoded or
   * multipart alike) replaces the query string's of the same name. Path parameters are
   * openapi-backend's, and handlers read them from there, so they win over both. The result is
   * what openapi-backend validates: the body of an operation that has one, else its query.
   */
  const readParameters = async (ctx: Koa.Context, operation: Operation | undefined, reading: RequestReading, maxBodyBytes: number): Promise<ReadRequest> => {
    // The trace PATCH's body is its chunk, and a GET has none in OpenAPI: their parameters are the query's.
    const inQuery = reading.kind === 'raw' || !hasRequestBody(operation);
    const schema = inQuery ? querySchema(operation) : requestBodySchema(operation);
    const limits = formLimits(maxBodyBytes, new Set(reading.kind === 'parameters' ? reading.longFields : []));
    // An empty query string gives no fields, and formParameters of none is an empty object.
    const fromQuery = ctx.querystring === '' ? {} : formParameters(urlencodedFields(ctx.querystring, limits), schema);
    const fromBody = reading.kind === 'raw' ? undefined : await bodyParameters(ctx, schema, limits, reading.kind === 'upload');
    // A body that is no object (a JSON array) goes to validation as it is, to be refused there.
    const merged = fromBody === undefined ? fromQuery : isPlainObject(fromBody) ? { ...fromQuery, ...fromBody } : fromBody;
    if (inQuery) return { query: isPlainObject(merged) ? merged : fromQuery, body: undefined };
    return { query: {}, body: merged };
  };

  return async (ctx, operation, reading, maxBodyBytes) => {
    switch (reading.kind) {
      case 'parameters':
      case 'upload':
      case 'raw':
        return readParameters(ctx, operation, reading, maxBodyBytes);
      case 'textForms':
      case 'default': {
        await jsonAndFormsWithin(maxBodyBytes)(ctx, async () => undefined);
        const body: unknown = ctx.request.body;
        const query = ctx.query as Record<string, unknown>;
        if (body !== undefined || !ctx.is('multipart')) return { query, body };
        if (reading.kind === 'textForms') {
          const fields = await receiveMultipartFields(ctx, formLimits(maxBodyBytes));
          // The same nesting koa-body (co-body) gives the same fields urlencoded: `variables[KEY]=value`.
          return { query, body: qs.parse(new URLSearchParams(fields.map(([name, value]) => [name, value])).toString(), { allowDots: true }) };
        }
        // Any other multipart body is refused by its operation's schema; an empty form stands in.
        return { query, body: {} };
      }
    }
  };
}

/** Transfer-Encoding or a non-zero Content-Length: there are bytes to read (type-is's rule). */
function hasBody(ctx: Koa.Context): boolean {
  return ctx.req.headers['transfer-encoding'] !== undefined || Number(ctx.req.headers['content-length']) > 0;
}

function hasRequestBody(operation: Operation | undefined): boolean {
  const body = operation?.requestBody;
  return body !== undefined && !('$ref' in body);
}

/** The schema of the operation's body: the one openapi-backend validates with (all media types share it). */
function requestBodySchema(operation: Operation | undefined): FormSchema | undefined {
  const body = operation?.requestBody;
  if (!body || '$ref' in body) return undefined;
  const content = body.content['application/json'] ?? body.content['multipart/form-data'] ?? body.content['application/x-www-form-urlencoded'];
  return content?.schema as FormSchema | undefined;
}

/** The operation's query parameters as one object schema. */
function querySchema(operation: Operation | undefined): FormSchema {
  const properties: Record<string, FormSchema> = {};
  for (const parameter of operation?.parameters ?? []) {
    if (!('$ref' in parameter) && parameter.in === 'query' && parameter.schema) properties[parameter.name] = parameter.schema as FormSchema;
  }
  return { type: 'object', properties };
}
