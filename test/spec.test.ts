import fs from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAPIBackend } from 'openapi-backend';
import { specPath } from '../src/http/openapiRouter.js';

// The server loads openapi.yaml in quick mode, which skips validating the document.
test('openapi.yaml is a valid OpenAPI 3.0 document whose operations all have unique ids and summaries', async () => {
  // Without quick mode, init() validates the document and throws on any error.
  const api = new OpenAPIBackend({ definition: specPath });
  await api.init();
  const operations = api.getOperations();
  assert.equal(operations.length, (fs.readFileSync(specPath, "utf8").match(/operationId:/g) ?? []).length);
  assert.equal(new Set(operations.map((op) => op.operationId)).size, operations.length);
  const summaries = operations.map((op) => `${op.path} ${op.summary ?? ''}`);
  for (const op of operations) assert.ok(op.summary, `${op.method} ${op.path} has a summary (Dredd names transactions by it)`);
  assert.equal(new Set(summaries).size, summaries.length);
});
