/** `make bench`: every scenario, one after the other, printing its figures. */
import { benchParameterForms } from './parameterForms.js';
import { benchRegisterPoll } from './registerPoll.js';
import { benchTraceAppend } from './traceAppend.js';

const scenarios: [string, () => Promise<string[]>][] = [
  ['trace append', benchTraceAppend],
  ['runner polls', benchRegisterPoll],
  ['parameter forms', benchParameterForms],
];

for (const [name, run] of scenarios) {
  console.log(`## ${name}`);
  for (const line of await run()) console.log(line);
}
