import fs from 'node:fs';
import path from 'node:path';

export interface SecretFinding {
  file: string;
  /** The label (or the secret itself when unlabelled) of what was found. */
  secret: string;
}

/** Every file under `paths` (directories walked), that exists. */
export function filesUnder(paths: readonly string[]): string[] {
  const files: string[] = [];
  const visit = (entry: string) => {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(entry);
    } catch {
      return;
    }
    if (stat.isDirectory()) for (const child of fs.readdirSync(entry)) visit(path.join(entry, child));
    else if (stat.isFile()) files.push(entry);
  };
  for (const entry of paths) visit(entry);
  return files;
}

/**
 * Which of `secrets` appear, byte for byte, in which of the files under `paths`. Secrets
 * are given as a list or as label → secret, so that a finding says what leaked.
 */
export function filesContaining(paths: readonly string[], secrets: readonly string[] | ReadonlyMap<string, string>): SecretFinding[] {
  const labelled = Array.isArray(secrets) ? secrets.map((secret): [string, string] => [secret, secret]) : [...(secrets as ReadonlyMap<string, string>)];
  const findings: SecretFinding[] = [];
  for (const file of filesUnder(paths)) {
    const bytes = fs.readFileSync(file);
    for (const [label, secret] of labelled) {
      if (secret !== '' && bytes.includes(Buffer.from(secret, 'utf8'))) findings.push({ file, secret: label });
    }
  }
  return findings;
}
