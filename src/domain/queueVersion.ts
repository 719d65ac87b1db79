/**
 * The runner's queue value, `X-GitLab-Last-Update` (GitLab: a random value per runner,
 * replaced whenever a build it could pick is queued). Until queue versions are kept (issue 7),
 * it is the time of the request: never equal to an earlier value, so a runner that sends it
 * back as `last_update` is always searched for, which is always correct.
 */
import type { RunnerRecord } from '../store/runners.js';
import type { Clock } from './clock.js';

export function currentQueueVersion(_runner: RunnerRecord, clock: Clock): string {
  return clock.now().getTime().toString(16);
}
