import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function traceHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
