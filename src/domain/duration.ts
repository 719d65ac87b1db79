/**
 * Human durations as GitLab 8.x accepts them in `artifacts:expire_in` (parsed there by the
 * ChronicDuration gem): `7 days`, `1h30m`, `1 week, 2 days`, `42` (seconds) ...
 *
 * The unit words are ChronicDuration's. The grammar is stricter than the gem, which silently drops
 * words it does not know (`7 parsecs` would be 7 seconds there): here any unknown word, stray
 * symbol or unit without a number makes the whole text unparsable, so typos are reported instead
 * of turning into surprising expiry dates.
 */

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Seconds per unit word. Months are 30 days and years 365 days, as in ChronicDuration 0.10. */
const SECONDS_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ...unitWords(['s', 'sec', 'secs', 'second', 'seconds'], 1),
  ...unitWords(['m', 'min', 'mins', 'minute', 'minutes'], MINUTE),
  ...unitWords(['h', 'hr', 'hrs', 'hour', 'hours'], HOUR),
  ...unitWords(['d', 'dy', 'day', 'days'], DAY),
  ...unitWords(['w', 'wk', 'wks', 'week', 'weeks'], 7 * DAY),
  ...unitWords(['mo', 'mos', 'month', 'months'], 30 * DAY),
  ...unitWords(['y', 'yr', 'yrs', 'year', 'years'], 365 * DAY),
]);

/** Words that may sit between two `<number> <unit>` parts and mean nothing ("1 day and 2 hours"). */
const JOIN_WORDS: ReadonlySet<string> = new Set(['and', 'with', 'plus']);

/**
 * Callers add the result to "now" to get an expiry date. JavaScript dates end at about
 * 275,000 years from 1970, so anything beyond this bound would become an Invalid Date there.
 */
export const MAX_DURATION_SECONDS = 10_000 * 365 * DAY;

type Token = { kind: 'number'; value: number } | { kind: 'word'; word: string };

/**
 * Parses a human duration into whole seconds (rounded), or returns null when the text is not a
 * duration. Zero is null too: ChronicDuration returns nil for it, so GitLab rejects `0` as well.
 */
export function parseDuration(text: string): number | null {
  if (typeof text !== 'string') return null;
  const tokens = tokenize(text.trim().toLowerCase());
  if (tokens === null || tokens.length === 0) return null;
  const seconds = sumParts(tokens);
  if (seconds === null) return null;
  const rounded = Math.round(seconds);
  if (rounded <= 0 || rounded > MAX_DURATION_SECONDS) return null;
  return rounded;
}

function unitWords(words: string[], seconds: number): [string, number][] {
  return words.map((word) => [word, seconds]);
}

/** Splits into numbers and words; commas and blanks separate, any other symbol (`-`, `:`) fails. */
function tokenize(text: string): Token[] | null {
  const tokens: Token[] = [];
  const pieces = /(\d+(?:\.\d+)?|\.\d+)|([a-z]+)|([\s,]+)|(.)/gy;
  for (const match of text.matchAll(pieces)) {
    const [, number, word, , other] = match;
    if (other !== undefined) return null;
    if (number !== undefined) tokens.push({ kind: 'number', value: Number(number) });
    else if (word !== undefined && !JOIN_WORDS.has(word)) tokens.push({ kind: 'word', word });
  }
  return tokens;
}

/**
 * Adds up `<number> <unit>` pairs. A number without a unit is seconds, but only when it is the
 * whole text (`42`): ChronicDuration's reading of `1 hour 30` as 3630 s is more likely a mistake.
 */
function sumParts(tokens: Token[]): number | null {
  const [first] = tokens;
  if (tokens.length === 1 && first?.kind === 'number') return first.value;

  let total = 0;
  for (let i = 0; i < tokens.length; i += 2) {
    const amount = tokens[i];
    const unit = tokens[i + 1];
    if (amount?.kind !== 'number' || unit?.kind !== 'word') return null;
    const unitSeconds = SECONDS_PER_UNIT.get(unit.word);
    if (unitSeconds === undefined) return null;
    total += amount.value * unitSeconds;
  }
  return Number.isFinite(total) ? total : null;
}
