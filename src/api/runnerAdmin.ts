import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function runnerAdminHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
