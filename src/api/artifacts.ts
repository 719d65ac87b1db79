import type { AppDeps, OperationHandlers } from '../http/handlers.js';

export function artifactHandlers(_deps: AppDeps): OperationHandlers {
  return {};
}
