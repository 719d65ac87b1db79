import type Koa from 'koa';
import type { Context as OpenApiContext, OpenAPIBackend, Operation, Request } from 'openapi-backend';
import type { ErrorObject } from 'ajv';
import { isPlainObject } from './formSchema.js';

/**
 * openapi-backend's handleRequest for the simplest kind of operation, without its overhead:
 * it parses the request four times over (lodash copies, cookies, a path template compiled
 * each time), runs the security machinery and matches the route again. Runners poll for
 * builds thousands of times a second (issue 7's idle poll), so their operations take this
 * way when the request is as simple as a runner's: no security scheme, no path template, no
 * query string and no cookie, and a JSON object body. It
 * runs openapi-backend's own compiled validators on the very input handleRequest would give
 * them (so coercion and error objects are the same: with no query string, no cookie and no
 * path template, the query, cookie and path parts are empty, whatever parameters the
 * operation declares), and hands the same context to the same
 * validationFail or operation handler. Anything else returns undefined, untouched, for
 * handleRequest.
 */
export function lightDispatcher(api: OpenAPIBackend, operationIds: ReadonlySet<string>) {
  return (operation: Operation | undefined, request: Request, ctx: Koa.Context): Promise<unknown> | undefined => {
    if (!operation?.operationId || !operationIds.has(operation.operationId)) return undefined;
    if ((operation.security?.length ?? 0) > 0 || operation.path.includes('{')) return undefined;
    const { headers, body } = request;
    if (headers.cookie !== undefined || Object.keys(request.query ?? {}).length > 0 || !isPlainObject(body)) return undefined;
    const handler = api.handlers[operation.operationId];
    const validationFail = api.handlers.validationFail;
    if (!handler || !validationFail) return undefined;
    // What validateRequest builds: header names are lower case in Node already (parseRequest copies them).
    const header = { ...headers };
    const parameters = { path: {}, query: {}, header, cookie: {}, requestBody: body };
    const errors: ErrorObject[] = [];
    for (const validate of api.validator.getRequestValidatorsForOperation(operation.operationId)) {
      validate(parameters);
      if (validate.errors) errors.push(...validate.errors);
    }
    // parseRequest's result: the request normalised (method in lower case, path without query), and its parts.
    const parsed = { ...api.router.normalizeRequest(request), params: {}, headers: header, query: {}, cookies: {}, requestBody: body };
    const context = {
      api,
      request: parsed,
      operation,
      security: { authorized: false },
      validation: errors.length > 0 ? { valid: false, errors } : { valid: true, errors: null, coerced: { ...request, query: {}, params: {} } },
    } as unknown as OpenApiContext;
    return errors.length > 0 ? validationFail(context, ctx) : handler(context, ctx);
  };
}
