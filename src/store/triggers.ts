import type { Db } from './db.js';
import { int } from './rows.js';

export interface TriggerRecord {
  id: number;
  projectId: number;
  token: string;
  description: string | null;
  createdAt: string;
}

export type NewTriggerRecord = Omit<TriggerRecord, 'id'>;

export async function insertTrigger(db: Db, trigger: NewTriggerRecord): Promise<TriggerRecord> {
  const [row] = await db('triggers')
    .insert({ project_id: trigger.projectId, token: trigger.token, description: trigger.description, created_at: trigger.createdAt })
    .returning('*');
  return triggerFromRow(row);
}

export async function listTriggers(db: Db, projectId: number): Promise<TriggerRecord[]> {
  const rows: Record<string, unknown>[] = await db('triggers').where({ project_id: projectId }).orderBy('id');
  return rows.map(triggerFromRow);
}

/** True when the project had that trigger. */
export async function deleteTrigger(db: Db, projectId: number, id: number): Promise<boolean> {
  return (await db('triggers').where({ project_id: projectId, id }).delete()) > 0;
}

/** The trigger with this token, whichever project it belongs to (the token column is unique). */
export async function findTriggerByToken(db: Db, token: string): Promise<TriggerRecord | undefined> {
  const row = await db('triggers').where({ token }).first();
  return row ? triggerFromRow(row) : undefined;
}

function triggerFromRow(row: Record<string, unknown>): TriggerRecord {
  return {
    id: int(row.id),
    projectId: int(row.project_id),
    token: String(row.token),
    description: (row.description as string | null) ?? null,
    createdAt: String(row.created_at),
  };
}
