import type { Db } from './db.js';
import { tokenVaultOf } from './tokenVault.js';

/** A project's secret variable. */
export interface ProjectVariableRecord {
  key: string;
  value: string;
}

// Values are kept sealed (`value_sealed`, migration 008) with the server secret's vault, as
// build tokens are: a dump of the database shows keys, never values.

export async function listProjectVariables(db: Db, projectId: number): Promise<ProjectVariableRecord[]> {
  const rows: Record<string, unknown>[] = await db('variables').where({ project_id: projectId }).orderBy('key').select('key', 'value_sealed');
  return rows.map((row) => variableFromRow(db, row));
}

/** listProjectVariables for several projects, in one query (a batch of claims' payloads); every project asked for has an entry. */
export async function listVariablesOfProjects(db: Db, projectIds: readonly number[]): Promise<Map<number, ProjectVariableRecord[]>> {
  const unique = [...new Set(projectIds)];
  const byProject = new Map<number, ProjectVariableRecord[]>(unique.map((id) => [id, []]));
  if (unique.length === 0) return byProject;
  const rows: Record<string, unknown>[] = await db('variables').whereIn('project_id', unique).orderBy('key').select('project_id', 'key', 'value_sealed');
  for (const row of rows) byProject.get(Number(row.project_id))?.push(variableFromRow(db, row));
  return byProject;
}

export async function findProjectVariable(db: Db, projectId: number, key: string): Promise<ProjectVariableRecord | undefined> {
  const row = await db('variables').where({ project_id: projectId, key }).first('key', 'value_sealed');
  return row ? variableFromRow(db, row) : undefined;
}

/**
 * Inserts the variable unless the project has one with that key already (then undefined).
 * The unique index decides, so two concurrent creates of one key can't both succeed.
 */
export async function insertProjectVariable(db: Db, projectId: number, variable: ProjectVariableRecord): Promise<ProjectVariableRecord | undefined> {
  const [row] = await db('variables')
    .insert({ project_id: projectId, key: variable.key, value_sealed: tokenVaultOf(db).seal(variable.value) })
    .onConflict(['project_id', 'key'])
    .ignore()
    .returning(['key']);
  return row ? { key: String(row.key), value: variable.value } : undefined;
}

/** The updated variable, or undefined when the project has no variable with that key. */
export async function updateProjectVariable(db: Db, projectId: number, key: string, value: string): Promise<ProjectVariableRecord | undefined> {
  const [row] = await db('variables').where({ project_id: projectId, key }).update({ value_sealed: tokenVaultOf(db).seal(value) }).returning(['key']);
  return row ? { key: String(row.key), value } : undefined;
}

/** True when a variable was deleted. */
export async function deleteProjectVariable(db: Db, projectId: number, key: string): Promise<boolean> {
  return (await db('variables').where({ project_id: projectId, key }).delete()) > 0;
}

function variableFromRow(db: Db, row: Record<string, unknown>): ProjectVariableRecord {
  return { key: String(row.key), value: tokenVaultOf(db).open(String(row.value_sealed)) };
}
