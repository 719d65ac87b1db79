import { HttpError } from './errors.js';

/**
 * How deeply a request's parameters may nest: Ruby's JSON `max_nesting` (GitLab's parser).
 * JSON.parse takes any depth, but the validator and every recursive walk after it would run
 * out of stack on a body like `{"a":{"a":...}}` 5,000 levels deep (issue 9's fuzz test).
 */
export const MAX_NESTING = 100;

/** Refuses a value nested deeper than MAX_NESTING, measured without recursion. */
export function refuseDeepNesting(value: unknown): void {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= MAX_NESTING) throw new HttpError(400, `400 Bad request - the parameters nest more than ${MAX_NESTING} levels deep`);
    for (const inner of Object.values(current)) pending.push([inner, depth + 1]);
  }
}
