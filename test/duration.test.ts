import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_DURATION_SECONDS, parseDuration } from '../src/domain/duration.js';

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;
const WEEK = 7 * DAY;

const validForms: [string, number][] = [
  ['7 days', 7 * DAY],
  ['7d', 7 * DAY],
  ['7 DAYS', 7 * DAY],
  ['  7 days  ', 7 * DAY],
  ['1 day', DAY],
  ['1 week', WEEK],
  ['2 weeks', 2 * WEEK],
  ['2wks', 2 * WEEK],
  ['30 mins', 30 * MINUTE],
  ['30 minutes', 30 * MINUTE],
  ['30 min', 30 * MINUTE],
  ['30m', 30 * MINUTE],
  ['2h', 2 * HOUR],
  ['2 hrs', 2 * HOUR],
  ['2 hours', 2 * HOUR],
  ['1 hour 30 minutes', HOUR + 30 * MINUTE],
  ['1h30m', HOUR + 30 * MINUTE],
  ['1h 30m', HOUR + 30 * MINUTE],
  ['42', 42],
  ['3 mos', 90 * DAY],
  ['1 month', 30 * DAY],
  ['1 year', 365 * DAY],
  ['2 yrs', 730 * DAY],
  ['5 seconds', 5],
  ['10s', 10],
  ['10 secs', 10],
  ['1 day 2 hours', DAY + 2 * HOUR],
  ['1 day and 2 hours', DAY + 2 * HOUR],
  ['1 week, 2 days', WEEK + 2 * DAY],
  ['1 week,2 days', WEEK + 2 * DAY],
  ['1.5 hours', 90 * MINUTE],
  ['.5 days', 12 * HOUR],
  ['1 day 1 day', 2 * DAY],
];

for (const [text, seconds] of validForms) {
  test(`parseDuration(${JSON.stringify(text)}) is ${seconds} s`, () => {
    assert.equal(parseDuration(text), seconds);
  });
}

const invalidForms = [
  '',
  '   ',
  'forever',
  'never',
  'days',
  'day 7',
  '7 parsecs',
  '-1 day',
  '-5',
  '+5',
  '1 2 days',
  '1 day 30',
  '7 days!',
  '1:30',
  '0',
  '0 days',
  '1,5 days',
  '1e3',
  'and',
  '9'.repeat(400),
  '99999999 years',
];

for (const text of invalidForms) {
  test(`parseDuration(${JSON.stringify(text.slice(0, 40))}) is null`, () => {
    assert.equal(parseDuration(text), null);
  });
}

test('the largest accepted duration still makes a valid JavaScript date', () => {
  assert.equal(parseDuration('10000 years'), MAX_DURATION_SECONDS);
  assert.doesNotThrow(() => new Date(Date.now() + MAX_DURATION_SECONDS * 1000).toISOString());
});

test('non-string input is null, not an exception', () => {
  assert.equal(parseDuration(undefined as unknown as string), null);
  assert.equal(parseDuration(7 as unknown as string), null);
});
