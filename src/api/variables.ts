import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function variableHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
