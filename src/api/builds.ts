import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function buildHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
