import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function triggerHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
