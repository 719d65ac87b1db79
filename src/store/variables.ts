import type { Db } from './db.js';
import { json } from './rows.js';
import type { PipelineVariable } from './pipelines.js';

/** A project's secret variable. */
export interface ProjectVariableRecord {
  key: string;
  value: string;
}

export async function listProjectVariables(db: Db, projectId: number): Promise<ProjectVariableRecord[]> {
  const rows: Record<string, unknown>[] = await db('variables').where({ project_id: projectId }).orderBy('key').select('key', 'value');
  return rows.map(variableFromRow);
}

export async function findProjectVariable(db: Db, projectId: number, key: string): Promise<ProjectVariableRecord | undefined> {
  const row = await db('variables').where({ project_id: projectId, key }).first('key', 'value');
  return row ? variableFromRow(row) : undefined;
}

/**
 * Inserts the variable unless the project has one with that key already (then undefined).
 * The unique index decides, so two concurrent creates of one key can't both succeed.
 */
export async function insertProjectVariable(db: Db, projectId: number, variable: ProjectVariableRecord): Promise<ProjectVariableRecord | undefined> {
  const [row] = await db('variables')
    .insert({ project_id: projectId, key: variable.key, value: variable.value })
    .onConflict(['project_id', 'key'])
    .ignore()
    .returning(['key', 'value']);
  return row ? variableFromRow(row) : undefined;
}

/** The updated variable, or undefined when the project has no variable with that key. */
export async function updateProjectVariable(db: Db, projectId: number, key: string, value: string): Promise<ProjectVariableRecord | undefined> {
  const [row] = await db('variables').where({ project_id: projectId, key }).update({ value }).returning(['key', 'value']);
  return row ? variableFromRow(row) : undefined;
}

/** True when a variable was deleted. */
export async function deleteProjectVariable(db: Db, projectId: number, key: string): Promise<boolean> {
  return (await db('variables').where({ project_id: projectId, key }).delete()) > 0;
}

/**
 * Every variable value a build's trace must not show, in one query: the project's secret
 * variables, and the request (or trigger) variables of the build's pipeline.
 */
export async function secretValuesOfBuild(db: Db, projectId: number, pipelineId: number): Promise<string[]> {
  const rows: { source: string; value: unknown }[] = await db('variables')
    .where({ project_id: projectId })
    .select(db.raw("'project' as source"), 'value')
    .unionAll((union) => {
      union.from('pipelines').where({ id: pipelineId }).select(db.raw("'pipeline' as source"), 'variables as value');
    });
  return rows.flatMap((row) =>
    row.source === 'pipeline' ? json<PipelineVariable[]>(row.value, []).map((variable) => variable.value) : [String(row.value)],
  );
}

function variableFromRow(row: Record<string, unknown>): ProjectVariableRecord {
  return { key: String(row.key), value: String(row.value) };
}
