import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function lintHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
