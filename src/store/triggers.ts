import type { Db } from './db.js';
import { int } from './rows.js';
import { findRowByToken, tokenDigest } from './tokenDigests.js';

/**
 * A trigger as stored: its token is known only by digest (`token_digest`), plus its
 * first characters (`token_prefix`), which listings show so that an administrator can
 * tell triggers apart, as GitLab shows other users' triggers.
 */
export interface TriggerRecord {
  id: number;
  projectId: number;
  tokenPrefix: string;
  description: string | null;
  createdAt: string;
}

export type NewTriggerRecord = Omit<TriggerRecord, 'id' | 'tokenPrefix'>;

/** How many leading characters of a trigger token are kept: 16 of its 120 bits. */
export const TRIGGER_TOKEN_PREFIX_LENGTH = 4;

export async function insertTrigger(db: Db, trigger: NewTriggerRecord, token: string): Promise<TriggerRecord> {
  const [row] = await db('triggers')
    .insert({
      project_id: trigger.projectId,
      token_digest: tokenDigest(token),
      token_prefix: token.slice(0, TRIGGER_TOKEN_PREFIX_LENGTH),
      description: trigger.description,
      created_at: trigger.createdAt,
    })
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

/** The trigger with this token, whichever project it belongs to (the digest column is unique). */
export async function findTriggerByToken(db: Db, token: string): Promise<TriggerRecord | undefined> {
  const row = await findRowByToken(db, 'triggers', 'token_digest', token);
  return row ? triggerFromRow(row) : undefined;
}

function triggerFromRow(row: Record<string, unknown>): TriggerRecord {
  return {
    id: int(row.id),
    projectId: int(row.project_id),
    tokenPrefix: String(row.token_prefix ?? ''),
    description: (row.description as string | null) ?? null,
    createdAt: String(row.created_at),
  };
}
