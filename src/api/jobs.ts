import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function jobHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
