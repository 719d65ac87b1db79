import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function runnerHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
