/**
 * openapi.yaml → src/generated/api.ts (types only). The generated file is git-ignored
 * and rebuilt by every Makefile target that needs it, so the spec stays the single
 * source of truth.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const spec = path.join(root, 'openapi.yaml');
const target = path.join(root, 'src/generated/api.ts');

const ast = await openapiTS(new URL(`file://${spec}`));
const banner = '// Generated from openapi.yaml by codegen/generate.ts (`make generate`). Do not edit.\n\n';
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, banner + astToString(ast));
console.log(`wrote ${path.relative(root, target)}`);
