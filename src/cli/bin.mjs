#!/usr/bin/env node
// The `coordinator` command (package.json "bin"). The CLI is TypeScript run by tsx, which is
// resolved from here, so the command works from any directory.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./main.ts');
process.exitCode = await runCli(process.argv.slice(2));
