// Prints the failed transactions of a Dredd xunit report, one per line with the start of its
// message: run.sh prints this last, so a CI log that keeps only its tail still names them.
'use strict';
const fs = require('node:fs');

const [report] = process.argv.slice(2);
let xml = '';
try {
  xml = fs.readFileSync(report, 'utf8');
} catch {
  console.error(`contract: no Dredd report at ${report} (Dredd stopped before writing it)`);
  process.exit(0);
}
const unescape = (s) => s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const failed = [];
for (const match of xml.matchAll(/<testcase name="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const body = match[2] || '';
  const failure = /<(failure|error)\b[^>]*?(?:message="([^"]*)")?[^>]*>([\s\S]*?)<\/\1>/.exec(body);
  if (!failure) continue;
  const text = unescape((failure[2] || '') + ' ' + failure[3].replace(/<!\[CDATA\[|\]\]>/g, '')).replace(/\s+/g, ' ').trim();
  failed.push(`${unescape(match[1])}: ${text.slice(0, 400)}`);
}
console.error(`---- contract: ${failed.length} failed transaction(s) ----`);
for (const line of failed) console.error(line);
