/** `make bench`: every scenario, one after the other, printing its figures. `BENCH=a,b` runs only those. */
import { benchArtifactUpload } from './artifactUpload.js';
import { benchClaim } from './claim.js';
import { benchHistory } from './history.js';
import { benchIdlePoll } from './idlePoll.js';
import { benchParameterForms } from './parameterForms.js';
import { benchPickup } from './pickup.js';
import { benchRegisterPoll } from './registerPoll.js';
import { benchTraceAppend } from './traceAppend.js';

const scenarios: [string, () => Promise<string[]>][] = [
  ['trace append', benchTraceAppend],
  ['artifact upload', benchArtifactUpload],
  ['runner polls', benchRegisterPoll],
  ['parameter forms', benchParameterForms],
  ['pickup', benchPickup],
  ['idle poll', benchIdlePoll],
  ['history', benchHistory],
  ['claim', benchClaim],
];

const picked = process.env.BENCH?.split(',').map((name) => name.trim().toLowerCase());
for (const [name, run] of scenarios) {
  if (picked && !picked.includes(name)) continue;
  console.log(`## ${name}`);
  for (const line of await run()) console.log(line);
}
