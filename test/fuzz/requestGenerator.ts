// Hostile requests derived from openapi.yaml with fast-check: for every operation of the spec
// (new ones are picked up as they are added), its path, query, headers and body are generated
// from its schemas and then broken in the ways issue 9 lists: wrong types, missing fields, huge
// and negative numbers, 1e9999, invalid UTF-8, deep nesting, duplicate and __proto__ keys,
// garbled Content-Range, path traversal, overlong headers, broken multipart, slow bodies.
import fc from 'fast-check';
import type { Operation } from 'openapi-backend';

/** One request as bytes on the wire, and what the generator meant by it. */
export interface FuzzRequest {
  operationId: string;
  /** What was broken, for the failure report. */
  mutations: string[];
  method: string;
  /** Path and query, exactly as sent. */
  target: string;
  headers: [string, string][];
  /** Sent one after another (with `pauseMs` between) under Content-Length, or chunked. */
  body: Buffer[];
  framing: 'length' | 'chunked';
  pauseMs: number;
}

/** What exists on the server, so that some requests reach past authentication and lookups. */
export interface FuzzTargets {
  /** Known values of path parameters by name (`id`, `job_id`, `key`, ...); every name falls back to `ids`. */
  pathValues: Record<string, string[]>;
  ids: string[];
  /** Every token of any kind the server issued. */
  tokens: string[];
  /** The tokens the user API takes (PRIVATE-TOKEN): the admin's and the viewer's. */
  privateTokens: string[];
  /** Known good values of body and query fields by name (`ref`, `sha`, `ci_config`, ...). */
  fieldValues: Record<string, unknown[]>;
}

interface Schema {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  additionalProperties?: boolean | Schema;
  pattern?: string;
  format?: string;
}

const HOSTILE_IDS = [
  '-1', '0', '-0', '1.5', '1e3', '1e9999', '99999999999999999999', '9007199254740993', '0x10', 'abc', '%00', '%ff', '%c0%ae%c0%ae',
  '..', '%2e%2e', '..%2f..%2fetc%2fpasswd', '%2e%2e%2f%2e%2e%2f', 'NaN', 'Infinity', '%20', '1%0d%0aX-Injected:%20yes', 'null', '[]',
];

/** Values of the wrong type, or of the right one at its extremes. */
const HOSTILE_VALUES: { text: string; label: string }[] = [
  { text: 'null', label: 'null' },
  { text: '[]', label: 'empty array' },
  { text: '{}', label: 'empty object' },
  { text: 'true', label: 'boolean' },
  { text: '-1', label: 'negative' },
  { text: '0', label: 'zero' },
  { text: '1e9999', label: '1e9999' },
  { text: '-1e9999', label: '-1e9999' },
  { text: '99999999999999999999999999999999', label: 'huge integer' },
  { text: '1.7976931348623157e308', label: 'max double' },
  { text: '""', label: 'empty string' },
  { text: '"   "', label: 'blank string' },
  { text: JSON.stringify('x'.repeat(70_000)), label: 'long string' },
  { text: '"\\u0000\\ud800"', label: 'NUL and a lone surrogate' },
  { text: '"../../../../etc/passwd"', label: 'traversal string' },
  { text: '{"__proto__":{"polluted":true}}', label: '__proto__ object' },
  { text: '[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]', label: 'nested array' },
];

const GARBLED_CONTENT_RANGES = ['-1-5', '5-', '99999999999999999999-1', 'bytes=0-1', 'bytes 0-1/2', '', '-', 'a-b', '0-0', '1-0', '0--1', ' 0-1', '0-1,2-3', '1e3-2e3', '00000000000000000000000-1'];

const TRAVERSAL_FILENAMES = ['../../../../tmp/escaped.zip', '..\\..\\..\\escaped.zip', '/etc/passwd', 'a/../../b.zip', '....//....//x', '\u0000.zip', '.', '..', '%2e%2e%2fx.zip', 'con', 'x'.repeat(600), 'ok.zip\r\nX-Injected: yes', 'nul\u202e.zip'];

const CONTENT_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain', 'application/octet-stream', 'application/json; charset=latin1', 'application/json; charset=utf-16', '*/*', 'application/jsonx', ';;;', 'multipart/form-data; boundary='];

/** The request's arbitrary for a random operation of `operations`. */
export function fuzzRequestArbitrary(operations: Operation[], targets: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom(...operations).chain((operation) => requestFor(operation, targets));
}

function requestFor(operation: Operation, targets: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  const parameters = (operation.parameters ?? []).filter((p) => !('$ref' in p)) as { name: string; in: string; schema?: Schema; required?: boolean }[];
  return fc
    .record({
      path: pathFor(operation.path, targets),
      query: queryFor(parameters.filter((p) => p.in === 'query'), targets),
      headers: headersFor(parameters.filter((p) => p.in === 'header'), targets),
      body: bodyFor(requestBodySchema(operation), targets),
      chunked: fc.boolean(),
      slow: fc.integer({ min: 0, max: 199 }),
    })
    .map(({ path, query, headers, body, chunked, slow }) => {
      const mutations = [...path.mutations, ...query.mutations, ...headers.mutations, ...body.mutations];
      const pieces = body.bytes === undefined ? [] : splitInPieces(body.bytes, slow === 0 ? 4 : 1);
      const allHeaders = [...headers.headers];
      if (body.contentType !== undefined) allHeaders.push(['Content-Type', body.contentType]);
      if (slow === 0 && pieces.length > 0) mutations.push('slow body');
      return {
        operationId: operation.operationId ?? `${operation.method} ${operation.path}`,
        mutations,
        method: operation.method.toUpperCase(),
        target: query.text === '' ? path.text : `${path.text}?${query.text}`,
        headers: allHeaders,
        body: pieces,
        framing: chunked ? 'chunked' : 'length',
        pauseMs: slow === 0 ? 30 : 0,
      } satisfies FuzzRequest;
    });
}

function splitInPieces(bytes: Buffer, count: number): Buffer[] {
  if (count <= 1 || bytes.length < count) return [bytes];
  const size = Math.ceil(bytes.length / count);
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  return pieces;
}

interface Part {
  text: string;
  mutations: string[];
}

function pathFor(template: string, targets: FuzzTargets): fc.Arbitrary<Part> {
  const names = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]!);
  if (names.length === 0) return fc.constant({ text: template, mutations: [] });
  return fc.tuple(...names.map((name) => pathValue(name, targets))).map((values) => {
    let text = template;
    const mutations: string[] = [];
    names.forEach((name, index) => {
      const value = values[index]!;
      text = text.replace(`{${name}}`, value.text);
      mutations.push(...value.mutations);
    });
    return { text, mutations };
  });
}

function pathValue(name: string, targets: FuzzTargets): fc.Arbitrary<Part> {
  const known = [...(targets.pathValues[name] ?? []), ...targets.ids];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known).map((text) => ({ text: encodeURIComponent(text), mutations: [] })) },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_IDS).map((text) => ({ text, mutations: [`${name}=${text}`] })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((text) => ({ text: encodeURIComponent(text) || '%20', mutations: [`${name}=random`] })) },
  );
}

function queryFor(parameters: { name: string; schema?: Schema }[], targets: FuzzTargets): fc.Arbitrary<Part> {
  const field = (parameter: { name: string; schema?: Schema }) =>
    fc.option(fieldText(parameter.name, parameter.schema, targets), { nil: undefined, freq: 2 }).map((value) => ({ name: parameter.name, value }));
  const extras = fc.subarray(['__proto__[polluted]=1', 'constructor[prototype][polluted]=1', 'a[b][c][d][e][f][g]=1', 'token[]=x', 'token=a&token=b', '%ff=%fe', 'per_page=-1', 'page=1e9999', 'x=%00%ff'], { maxLength: 2 });
  // A query string past the header limit (431), now and then.
  const overlong = fc.integer({ min: 0, max: 49 }).map((roll) => (roll === 0 ? [`x=${'y'.repeat(20_000)}`] : []));
  return fc.tuple(fc.tuple(...parameters.map(field)), extras, overlong).map(([fields, someExtra, long]) => {
    const extra = [...someExtra, ...long];
    const pairs = fields.filter((f) => f.value !== undefined).map((f) => `${encodeURIComponent(f.name)}=${f.value!.text}`);
    return { text: [...pairs, ...extra].join('&'), mutations: [...fields.flatMap((f) => f.value?.mutations ?? []), ...extra.map((e) => `query ${e.slice(0, 40)}`)] };
  });
}

/** A query value: a known good one, one made from the schema, or a hostile one; URL-encoded, or raw bytes. */
function fieldText(name: string, schema: Schema | undefined, targets: FuzzTargets): fc.Arbitrary<Part> {
  return fc.oneof(
    { weight: 3, arbitrary: goodValue(name, schema, targets, 0).map((value) => ({ text: encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value)), mutations: [] })) },
    { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_IDS).map((text) => ({ text, mutations: [`${name}=${text}`] })) },
  );
}

function headersFor(parameters: { name: string }[], targets: FuzzTargets): fc.Arbitrary<{ headers: [string, string][]; mutations: string[] }> {
  const token = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...targets.tokens) }, { weight: 1, arbitrary: fc.constantFrom('', 'garbage', 'x'.repeat(300), '\u00ff\u00fe') });
  const declared = new Set(parameters.map((p) => p.name.toLowerCase()));
  return fc
    .record({
      privateToken: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...targets.privateTokens) }, { weight: 1, arbitrary: token }), { nil: undefined }),
      buildToken: fc.option(token, { nil: undefined, freq: declared.has('build-token') ? 4 : 1 }),
      contentRange: fc.option(fc.oneof(fc.constantFrom(...GARBLED_CONTENT_RANGES), fc.tuple(fc.nat(50), fc.nat(50)).map(([a, b]) => `${a}-${b}`)), {
        nil: undefined,
        freq: declared.has('content-range') ? 4 : 1,
      }),
      overlong: fc.integer({ min: 0, max: 49 }).map((roll) => roll === 0),
      extra: fc.subarray(
        [
          ['Cookie', 'coordinator_session=garbage; coordinator_session=again'],
          ['X-CSRF-Token', '\u00ff'],
          ['Last-Event-ID', '-1e9999'],
          ['User-Agent', 'gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)'],
          ['Accept', 'text/event-stream'],
          ['Range', 'bytes=-1'],
          ['PRIVATE-TOKEN', 'duplicate'],
          ['Transfer-Encoding', 'gzip'],
        ] as [string, string][],
        { maxLength: 2 },
      ),
    })
    .map(({ privateToken, buildToken, contentRange, overlong, extra }) => {
      const headers: [string, string][] = [];
      const mutations: string[] = [];
      if (overlong) {
        headers.push(['X-Padding', 'p'.repeat(20_000)]);
        mutations.push('overlong header');
      }
      if (privateToken !== undefined) headers.push(['PRIVATE-TOKEN', privateToken]);
      if (buildToken !== undefined) headers.push(['BUILD-TOKEN', buildToken]);
      if (contentRange !== undefined) {
        headers.push(['Content-Range', contentRange]);
        if (GARBLED_CONTENT_RANGES.includes(contentRange)) mutations.push(`Content-Range ${JSON.stringify(contentRange)}`);
      }
      for (const [name, value] of extra) {
        headers.push([name, value]);
        mutations.push(`header ${name}${value.length > 100 ? ` (${value.length} bytes)` : ''}`);
      }
      return { headers, mutations };
    });
}

// ---- bodies ----------------------------------------------------------------------------------

interface Body {
  bytes: Buffer | undefined;
  contentType: string | undefined;
  mutations: string[];
}

/** A JSON object kept as its entries, so that keys may repeat and values may be raw text (1e9999). */
type Entries = [key: string, valueText: string][];

function bodyFor(schema: Schema | undefined, targets: FuzzTargets): fc.Arbitrary<Body> {
  const object = schema ? goodObjectEntries(schema, targets) : fc.constant<Entries>([]);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Body>({ bytes: undefined, contentType: undefined, mutations: ['no body'] }) },
    { weight: 2, arbitrary: object.map((entries) => jsonBody(entries, [])) },
    { weight: 6, arbitrary: fc.tuple(object, entryMutation(schema, targets)).map(([entries, mutate]) => mutate(entries)) },
    { weight: 2, arbitrary: rawJsonGarbage() },
    { weight: 2, arbitrary: object.chain((entries) => formBody(entries)) },
    { weight: 2, arbitrary: object.chain((entries) => multipartBody(entries)) },
    { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...CONTENT_TYPES)).map(([bytes, contentType]) => ({ bytes: Buffer.from(bytes), contentType, mutations: [`random bytes as ${contentType}`] })) },
  );
}

function jsonBody(entries: Entries, mutations: string[], contentType = 'application/json'): Body {
  return { bytes: Buffer.from(`{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`), contentType, mutations };
}

type EntryMutation = (entries: Entries) => Body;

function entryMutation(schema: Schema | undefined, targets: FuzzTargets): fc.Arbitrary<EntryMutation> {
  const required = schema ? requiredOf(schema) : [];
  const names = schema ? Object.keys(propertiesOf(schema)) : [];
  const someName = names.length > 0 ? fc.constantFrom(...names) : fc.constant('token');
  return fc.oneof(
    fc.constantFrom(...(required.length > 0 ? required : ['token'])).map((name): EntryMutation => (entries) => jsonBody(entries.filter(([key]) => key !== name), [`without ${name}`])),
    fc.tuple(someName, fc.constantFrom(...HOSTILE_VALUES)).map(([name, value]): EntryMutation => (entries) => jsonBody([...entries.filter(([key]) => key !== name), [name, value.text]], [`${name}: ${value.label}`])),
    fc.constantFrom('__proto__', 'constructor', 'prototype').map((key): EntryMutation => (entries) => jsonBody([[key, '{"polluted":true,"prototype":{"polluted":true}}'], ...entries], [`${key} key`])),
    fc.tuple(someName, fc.constantFrom(...targets.tokens, 'other')).map(([name, other]): EntryMutation => (entries) => jsonBody([...entries, [name, JSON.stringify(other)]], [`duplicate ${name}`])),
    fc.integer({ min: 50, max: 5000 }).map((depth): EntryMutation => (entries) => jsonBody([...entries, ['nested', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`]], [`nested ${depth} deep`])),
    someName.map((name): EntryMutation => (entries) => {
      const body = jsonBody(entries.filter(([key]) => key !== name), [`${name}: invalid UTF-8`]);
      // Bytes that are no UTF-8 at all, inside a string and at the top level.
      const invalid = Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80]);
      const open = body.bytes!.subarray(0, body.bytes!.length - 1);
      const separator = open.length > 1 ? ',' : '';
      return { ...body, bytes: Buffer.concat([open, Buffer.from(`${separator}"${name}":"`), invalid, Buffer.from('"}')]) };
    }),
    fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16').map((contentType): EntryMutation => (entries) => jsonBody(entries, [`JSON as ${contentType}`], contentType)),
  );
}

function rawJsonGarbage(): fc.Arbitrary<Body> {
  return fc
    .constantFrom(
      '{"token": ',
      '[1,2,3]',
      'null',
      '"token"',
      '1e9999',
      '{"a":1}{"a":2}',
      '{"a":1,}',
      '\u0000',
      '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"isAdmin":true}}}',
      `${'['.repeat(100_000)}`,
      `{"a":"${'\\u'.repeat(10)}"}`,
      '{"a": NaN}',
      '',
    )
    .map((text) => ({ bytes: Buffer.from(text), contentType: 'application/json', mutations: [`JSON ${JSON.stringify(text.slice(0, 30))}`] }));
}

function formBody(entries: Entries): fc.Arbitrary<Body> {
  const fields = entries.flatMap(([key, text]) => formFieldsOf(key, JSON.parse(text) as unknown));
  return fc
    .subarray(['__proto__[polluted]=1', 'constructor[prototype][polluted]=1', 'info[a][b][c][d][e][f][g]=1', 'token[]=x', '%ff%fe=%c0%af', '&&&&', 'x'.repeat(300) + '=1'], { maxLength: 2 })
    .map((extra) => ({
      bytes: Buffer.from([new URLSearchParams(fields).toString(), ...extra].filter((part) => part !== '').join('&')),
      contentType: 'application/x-www-form-urlencoded',
      mutations: ['urlencoded', ...extra.map((e) => `form ${e.slice(0, 30)}`)],
    }));
}

/** Rack's nesting: `info[name]=x`, `tag_list[]=a`. */
function formFieldsOf(key: string, value: unknown): [string, string][] {
  if (Array.isArray(value)) return value.flatMap((item) => formFieldsOf(`${key}[]`, item));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([inner, item]) => formFieldsOf(`${key}[${inner}]`, item));
  return [[key, value === null ? '' : String(value)]];
}

function multipartBody(entries: Entries): fc.Arbitrary<Body> {
  const fields = entries.flatMap(([key, text]) => formFieldsOf(key, JSON.parse(text) as unknown));
  return fc
    .record({
      file: fc.option(fc.constantFrom(...TRAVERSAL_FILENAMES), { nil: undefined }),
      fileField: fc.constantFrom('file', 'other', 'token'),
      flaw: fc.constantFrom('none', 'no boundary', 'never ends', 'garbage after', 'no part headers'),
    })
    .map(({ file, fileField, flaw }) => {
      const boundary = 'fuzzboundary7MA4YWxkTrZu0gW';
      const parts = fields.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
      if (file !== undefined) {
        parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="${fileField}"; filename="${file}"\r\nContent-Type: application/zip\r\n\r\nPK\u0005\u0006${'\u0000'.repeat(18)}\r\n`);
      }
      if (flaw === 'no part headers') parts.push(`--${boundary}\r\n\r\nheaderless\r\n`);
      const closing = flaw === 'never ends' ? `--${boundary}\r\nContent-Disposition: form-data; name="endless"\r\n\r\nand on` : `--${boundary}--\r\n${flaw === 'garbage after' ? 'trailing garbage' : ''}`;
      const contentType = flaw === 'no boundary' ? 'multipart/form-data' : `multipart/form-data; boundary=${boundary}`;
      const mutations = [`multipart${flaw === 'none' ? '' : ` (${flaw})`}`, ...(file === undefined ? [] : [`${fileField} part named ${JSON.stringify(file.slice(0, 40))}`])];
      return { bytes: Buffer.from(parts.join('') + closing, 'utf8'), contentType, mutations };
    });
}

// ---- values from schemas ---------------------------------------------------------------------

function goodObjectEntries(schema: Schema, targets: FuzzTargets): fc.Arbitrary<Entries> {
  const properties = propertiesOf(schema);
  const required = new Set(requiredOf(schema));
  const names = Object.keys(properties);
  if (names.length === 0) return fc.constant([]);
  return fc
    .tuple(...names.map((name) => fc.option(goodValue(name, properties[name], targets, 1), { nil: undefined, freq: required.has(name) ? 20 : 2 })))
    .map((values) => names.flatMap((name, index): Entries => (values[index] === undefined ? [] : [[name, JSON.stringify(values[index])]])));
}

/** A value valid for `schema`, preferring what exists on the server (tokens, ids, refs). */
function goodValue(name: string, schema: Schema | undefined, targets: FuzzTargets, depth: number): fc.Arbitrary<unknown> {
  const known = targets.fieldValues[name];
  if (name === 'token') return fc.constantFrom(...targets.tokens);
  if (known && known.length > 0) return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: fromSchema(schema, targets, depth) });
  return fromSchema(schema, targets, depth);
}

function fromSchema(schema: Schema | undefined, targets: FuzzTargets, depth: number): fc.Arbitrary<unknown> {
  if (!schema || depth > 3) return fc.constant('x');
  if (schema.enum && schema.enum.length > 0) return fc.constantFrom(...schema.enum);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives && alternatives.length > 0) return fc.oneof(...alternatives.map((alternative) => fromSchema(alternative, targets, depth + 1)));
  if (schema.allOf && schema.allOf.length > 0) return fromSchema(Object.assign({}, ...schema.allOf) as Schema, targets, depth);
  switch (schema.type) {
    case 'integer':
      return fc.oneof(fc.constantFrom(...targets.ids.map(Number).filter(Number.isSafeInteger)), fc.integer({ min: -5, max: 1000 }));
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(fromSchema(schema.items, targets, depth + 1), { maxLength: 3 });
    case 'object':
      return goodObjectEntries(schema, targets).map((entries) => Object.fromEntries(entries.map(([key, text]) => [key, JSON.parse(text) as unknown])));
    default:
      return fc.string({ maxLength: 20 });
  }
}

function propertiesOf(schema: Schema): Record<string, Schema> {
  return Object.assign({}, schema.properties ?? {}, ...(schema.allOf ?? []).map(propertiesOf)) as Record<string, Schema>;
}

function requiredOf(schema: Schema): string[] {
  return [...(schema.required ?? []), ...(schema.allOf ?? []).flatMap(requiredOf)];
}

function requestBodySchema(operation: Operation): Schema | undefined {
  const body = operation.requestBody;
  if (!body || '$ref' in body) return undefined;
  const content = body.content['application/json'] ?? body.content['multipart/form-data'] ?? body.content['application/x-www-form-urlencoded'] ?? Object.values(body.content)[0];
  return content?.schema as Schema | undefined;
}

/** The bytes of `request` on the wire, Connection: close, framed as it says. */
export function renderHead(request: FuzzRequest): string {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (request.body.length > 0) {
    if (request.framing === 'chunked') lines.push('Transfer-Encoding: chunked');
    else lines.push(`Content-Length: ${request.body.reduce((sum, piece) => sum + piece.length, 0)}`);
  }
  return lines.join('\r\n');
}

/** The body pieces as written: chunk-framed when chunked. */
export function renderBody(request: FuzzRequest): Buffer[] {
  if (request.framing !== 'chunked' || request.body.length === 0) return request.body;
  return [...request.body.map((piece) => Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])), Buffer.from('0\r\n\r\n')];
}
