import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function jobActionHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
