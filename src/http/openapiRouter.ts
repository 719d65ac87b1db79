import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Koa from 'koa';
import { OpenAPIBackend, type Context as OpenApiContext, type Request } from 'openapi-backend';
import addFormats from 'ajv-formats';
import type { ErrorObject } from 'ajv';
import { enforceAccess, securityHandlers } from './access.js';
import { HttpError } from './errors.js';
import type { AppDeps, OperationHandlers, OperationId } from './handlers.js';
import { bodyLimitOf } from './bodyLimits.js';
import { refuseDeepNesting } from './nestingLimit.js';
import { createRequestReader, type RequestReading } from './requestReading.js';
import { annotateRequest, shareRequestAnnotations } from './requestContext.js';
import { precompileRoutes } from './routeTable.js';
import { lightDispatcher } from './lightDispatch.js';


export const specPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../openapi.yaml');

/** How each operation's request is read (see RequestReading); the others get `default`. */
export type RequestReadings = Partial<Record<OperationId, RequestReading>>;

/**
 * Routes each request to the handler of its operationId and validates it against
 * openapi.yaml first. The operation is matched before the body is read, so that each
 * operation's body meets only its own parser (`readings`). Security (PRIVATE-TOKEN or the
 * web session's cookie) is checked before validation, so an unauthenticated caller learns nothing about the shape
 * of the API.
 */
export async function openapiRouter(deps: AppDeps, handlers: OperationHandlers, readings: RequestReadings = {}): Promise<Koa.Middleware> {
  const api = new OpenAPIBackend({
    definition: specPath,
    // Validators are compiled on first use instead of all at start-up (seconds for this
    // spec), and the document itself is validated once by test/spec.test.ts instead.
    quick: true,
    strict: true,
    coerceTypes: true,
    customizeAjv: (ajv) => {
      addFormats.default(ajv);
      return ajv;
    },
    handlers: {
      ...guarded(handlers),
      validationFail: async (c: OpenApiContext, ctx: Koa.Context) => {
        // Who may call comes before what was sent, as in GitLab: a viewer's write is 403
        // whatever its body (found by test/authorisationMatrix.test.ts).
        enforceAccess(c, ctx);
        throw new HttpError(400, validationMessage(c.validation.errors ?? []));
      },
      unauthorizedHandler: async () => {
        throw new HttpError(401, '401 Unauthorized');
      },
      notFound: async () => {
        throw new HttpError(404, '404 Not Found');
      },
      methodNotAllowed: async () => {
        throw new HttpError(405, '405 Method Not Allowed');
      },
      notImplemented: async (c: OpenApiContext) => {
        throw new Error(`no handler bound to operation ${c.operation.operationId}`);
      },
    },
    securityHandlers: securityHandlers({ adminTokenDigest: deps.tokens.adminTokenDigest, viewerToken: deps.config.viewerToken }),
  });
  await api.init();
  precompileRoutes(api.router);
  const dispatchLight = lightDispatcher(api, LIGHT_OPERATIONS);
  const readRequest = createRequestReader();
  const readingOf = (operationId: string | undefined): RequestReading =>
    (operationId === undefined ? undefined : readings[operationId as OperationId]) ?? { kind: 'default' };

  return async (ctx) => {
    refuseMalformedPath(ctx.path);
    const request: Request = {
      method: ctx.method,
      path: ctx.path,
      query: ctx.query as Record<string, string | string[]>,
      headers: ctx.headers as Record<string, string | string[]>,
    };
    const operation = api.matchOperation(request);
    annotateRequest(ctx, { operationId: operation?.operationId });
    const bodyLimit = bodyLimitOf(operation?.operationId, deps.config);
    ctx.state.bodyLimit = bodyLimit;
    const { query, body } = await readRequest(ctx, operation, readingOf(operation?.operationId), bodyLimit);
    refuseDeepNesting(body);
    refuseDeepNesting(query);
    const read: Request = { ...request, query: query as Request['query'], body };
    await (dispatchLight(operation, read, ctx) ?? api.handleRequest(read, ctx));
  };
}

/** The runners' polls for a build: the requests a coordinator serves most (see lightDispatch.ts). */
const LIGHT_OPERATIONS: ReadonlySet<string> = new Set<OperationId>(['registerBuild', 'registerBuildJson', 'requestJob']);

/**
 * A path whose percent-encoding is not UTF-8 (`/projects/%ff`) cannot name anything; the
 * router would fail decoding its parameters (issue 9's fuzz test found the 500).
 */
function refuseMalformedPath(path: string): void {
  try {
    decodeURIComponent(path);
  } catch {
    throw new HttpError(400, '400 Bad request - the path is not valid percent-encoded UTF-8');
  }
}

/** Every operation handler runs only after the caller's role and CSRF token allow it (see enforceAccess). */
function guarded(handlers: OperationHandlers): OperationHandlers {
  return Object.fromEntries(
    Object.entries(handlers).map(([operationId, handler]) => [
      operationId,
      async (c: OpenApiContext, ctx: Koa.Context) => {
        shareRequestAnnotations(ctx, c);
        enforceAccess(c, ctx);
        await handler(c, ctx);
      },
    ]),
  );
}

/** GitLab's wording for a missing parameter; the validator's own words otherwise. */
function validationMessage(errors: ErrorObject[]): string {
  const first = errors[0];
  if (!first) return '400 Bad request';
  if (first.keyword === 'required') {
    return `400 (Bad request) "${String(first.params.missingProperty)}" not given`;
  }
  const where = first.instancePath.replace(/^\//, '').replace(/\//g, '.').replace(/^requestBody\.?/, '') || 'request';
  return `400 Bad request - ${where} ${first.message ?? 'is invalid'}`;
}
