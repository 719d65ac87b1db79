import { isPostgres, type Db } from './db.js';

/**
 * Tag lists are stored as JSON arrays of strings (runners.tag_list, builds.tag_list).
 * These predicates match on the elements, not on the text, so a match is exact and
 * case-sensitive in both databases, as tags are everywhere else. Each returns the SQL
 * and its bindings for `whereRaw`; `column` is a trusted column name, never input.
 */

/** The list holds every one of `tags` (a runner that has all the tags asked for). */
export function tagListHasAll(db: Db, column: string, tags: string[]): [string, string[]] {
  if (isPostgres(db)) return [`${column}::jsonb @> ?::jsonb`, [JSON.stringify(tags)]];
  return [`(select count(distinct value) from json_each(${column}) where value in (${placeholders(tags)})) = ${tags.length}`, tags];
}

/** Every element of the list is one of `tags` (a build whose tags a runner covers). */
export function tagListWithin(db: Db, column: string, tags: string[]): [string, string[]] {
  if (isPostgres(db)) return [`${column}::jsonb <@ ?::jsonb`, [JSON.stringify(tags)]];
  return [`not exists (select 1 from json_each(${column}) where value not in (${placeholders(tags)}))`, tags];
}

function placeholders(values: string[]): string {
  return values.map(() => '?').join(', ');
}
