import type { Db } from './db.js';
import { openPipelineVariables } from './pipelines.js';
import { tokenVaultOf } from './tokenVault.js';

/** What the database knows that a build's trace must not show (see traceSecrets in src/domain/traces.ts). */
export interface StoredTraceSecrets {
  /** The project's secret variables and the pipeline's request or trigger variables. */
  variableValues: string[];
  /** The tokens of the earlier stages' builds of the pipeline: the build receives them as dependency tokens. */
  dependencyTokens: string[];
  /** Digests of the tokens kept only as digests: the build's runner's, and the project's triggers'. */
  tokenDigests: string[];
}

/**
 * All of it in one query, read at each append so that a variable or trigger changed
 * mid-build counts. Sealed values are opened here.
 */
export async function storedTraceSecrets(
  db: Db,
  build: { projectId: number; pipelineId: number; stageIdx: number; runnerId: number | null },
): Promise<StoredTraceSecrets> {
  const rows: { source: string; value: unknown }[] = await db('variables')
    .where({ project_id: build.projectId })
    .select(db.raw("'project' as source"), 'value_sealed as value')
    .unionAll((union) => union.from('pipelines').where({ id: build.pipelineId }).select(db.raw("'pipeline' as source"), 'variables_sealed as value'))
    .unionAll((union) =>
      union
        .from('builds')
        .where({ pipeline_id: build.pipelineId })
        .andWhere('stage_idx', '<', build.stageIdx)
        .select(db.raw("'dependency' as source"), 'token_sealed as value'),
    )
    .unionAll((union) => union.from('runners').where({ id: build.runnerId ?? -1 }).select(db.raw("'digest' as source"), 'token_digest as value'))
    .unionAll((union) => union.from('triggers').where({ project_id: build.projectId }).select(db.raw("'digest' as source"), 'token_digest as value'));
  const vault = tokenVaultOf(db);
  const secrets: StoredTraceSecrets = { variableValues: [], dependencyTokens: [], tokenDigests: [] };
  for (const row of rows) {
    const value = String(row.value);
    if (row.source === 'project') secrets.variableValues.push(vault.open(value));
    else if (row.source === 'pipeline') secrets.variableValues.push(...openPipelineVariables(vault, row.value).map((variable) => variable.value));
    else if (row.source === 'dependency') secrets.dependencyTokens.push(vault.open(value));
    else secrets.tokenDigests.push(value);
  }
  return secrets;
}
