import type { Operation, OpenAPIRouter, Request } from 'openapi-backend';

/**
 * openapi-backend's router rebuilds its list of operations (lodash, ~80 operations) and
 * compiles a RegExp per operation for every match, and a request is matched several times
 * (by us, by handleRequest, by its parsing): at thousands of idle polls a second that was
 * the biggest cost of a request (issue 7, bench/idlePoll.ts). The document never changes
 * after init, so the list is built once and the patterns compiled once, and matching
 * keeps the router's own rules exactly:
 * - an operation whose path is the request's exactly, with its method, wins;
 * - else the templated paths that match, most specific first (the path's length without
 *   its `{parameters}`; ties in document order), the first with the method;
 * - none matching the path: 404; matching the path but not the method: 405 (both thrown
 *   only when `strict`, with the router's own messages, which handleRequest reads).
 */
export function precompileRoutes(router: OpenAPIRouter): void {
  const operations = router.getOperations();
  const byPath = new Map<string, Operation[]>();
  for (const operation of operations) {
    const same = byPath.get(operation.path);
    if (same) same.push(operation);
    else byPath.set(operation.path, [operation]);
  }
  // Array.prototype.sort is stable, as lodash's orderBy is: ties keep the document's order.
  const bySpecificity = operations
    .map((operation) => ({ operation, pattern: new RegExp(pathTemplateToPattern(operation.path)), specificity: operation.path.replace(/\{.*?\}/g, '').length }))
    .sort((a, b) => b.specificity - a.specificity);

  function matchOperation(req: Request): Operation | undefined;
  function matchOperation(req: Request, strict: boolean): Operation;
  function matchOperation(req: Request, strict?: boolean): Operation | undefined {
    const { path, method } = router.normalizeRequest(req);
    if (!isUnderApiRoot(router.apiRoot, path)) {
      if (strict) throw Error('404-notFound: no route matches request');
      return undefined;
    }
    const normalizedPath = router.normalizePath(path);
    const exact = byPath.get(normalizedPath)?.find((operation) => operation.method === method);
    if (exact) return exact;
    let pathMatched = false;
    for (const { operation, pattern } of bySpecificity) {
      if (!pattern.test(normalizedPath)) continue;
      if (operation.method === method) return operation;
      pathMatched = true;
    }
    if (strict) throw Error(pathMatched ? '405-methodNotAllowed: this method is not registered for the route' : '404-notFound: no route matches request');
    return undefined;
  }

  router.getOperations = () => operations;
  router.matchOperation = matchOperation;
}

/** The router's own rule (a private method there): the root itself, or below it at a segment boundary. */
function isUnderApiRoot(apiRoot: string, path: string): boolean {
  if (apiRoot === '/') return path.startsWith('/');
  const root = apiRoot.replace(/\/$/, '');
  return path === root || path.startsWith(`${root}/`);
}

/** The router's own conversion: `/{id}/` becomes `/[^/]+/`, the literal parts escaped. */
function pathTemplateToPattern(path: string): string {
  const pattern = path
    .replace(/\{[^}]+\}/g, '\0')
    .split('\0')
    .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return `^${pattern}$`;
}
