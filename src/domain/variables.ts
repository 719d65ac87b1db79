import type { Db } from '../store/db.js';
import { insertProjectVariable, type ProjectVariableRecord } from '../store/variables.js';

/** What GitLab accepted as a variable key: it becomes an environment variable name on the runner. */
export const VARIABLE_KEY = /^[A-Za-z0-9_]+$/;
export const VARIABLE_KEY_MAX_LENGTH = 255;

export function isVariableKey(key: string): boolean {
  return key.length <= VARIABLE_KEY_MAX_LENGTH && VARIABLE_KEY.test(key);
}

/** A project already has a secret variable with this key. */
export class VariableKeyTaken extends Error {
  constructor(readonly key: string) {
    super(`Variable key ${key} has already been taken`);
  }
}

/**
 * Adds a secret variable to the project. Keys are unique per project; the database's
 * unique index decides, so concurrent creates from several server processes agree.
 */
export async function createProjectVariable(db: Db, projectId: number, variable: ProjectVariableRecord): Promise<ProjectVariableRecord> {
  const created = await insertProjectVariable(db, projectId, variable);
  if (!created) throw new VariableKeyTaken(variable.key);
  return created;
}
