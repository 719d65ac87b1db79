// Go's encoding/json as the runners use it: what they send (goJsonStringify) and how they decode
// replies into typed structs (a wrong JSON type fails the whole call). Shared by the v1 and v4
// runner simulators.

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

export type RunnerErrorKind =
  | 'status' // an HTTP status the runner treats as a failure
  | 'content-type' // a JSON reply whose Content-Type is not exactly application/json
  | 'decode' // invalid JSON or a JSON type the runner's Go structs cannot hold
  | 'payload' // decodes, but the runner cannot use it (id <= 0, sha shorter than 8 bytes)
  | 'protocol' // a reply that would crash the real runner (416 without a usable Range)
  | 'network' // connection refused, reset, timeout
  | 'url'; // a base URL the runner rejects

export class RunnerProtocolError extends Error {
  constructor(
    message: string,
    readonly kind: RunnerErrorKind,
    readonly status?: number,
    readonly responseBody?: string,
  ) {
    super(message);
    this.name = 'RunnerProtocolError';
  }
}


// ---------------------------------------------------------------------------------------------------
// Go-compatible encoding helpers
// ---------------------------------------------------------------------------------------------------

/**
 * Serialises like Go 1.8's encoding/json: `<`, `>`, `&`, U+2028 and U+2029 become \u escapes, and
 * \b and \f are written as \u0008 and \u000c. Servers must cope with those escapes (section 2.5).
 */
export function goJsonStringify(value: unknown): string {
  return JSON.stringify(value)
    .replace(/\\([\s\S])/g, (escape, char: string) =>
      char === 'b' ? '\\u0008' : char === 'f' ? '\\u000c' : escape,
    )
    .replace(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Go's url.QueryEscape: only `-_.~` and alphanumerics stay literal, and spaces become `+`. */
export function goQueryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}


// ---------------------------------------------------------------------------------------------------
// Decoding replies the way Go's encoding/json does
// ---------------------------------------------------------------------------------------------------

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function jsonTypeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}

export function typeMismatch(value: unknown, goType: string, path: string): RunnerProtocolError {
  return new RunnerProtocolError(
    `json: cannot unmarshal ${jsonTypeName(value)} into Go value of type ${goType} (at ${path})`,
    'decode',
  );
}

/** Go matches JSON keys to struct fields exactly first, then case-insensitively. */
export function goField(object: JsonObject, name: string): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  const key = Object.keys(object).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : object[key];
}

/** A struct: null or missing gives the zero value (no fields set); anything but an object fails. */
export function goStruct(value: unknown, path: string): JsonObject {
  if (value === null || value === undefined) return {};
  if (!isJsonObject(value)) throw typeMismatch(value, 'struct', path);
  return value;
}

export function goInt(value: unknown, path: string): number {
  if (value === null || value === undefined) return 0;
  if (typeof value !== 'number') throw typeMismatch(value, 'int', path);
  if (!Number.isSafeInteger(value)) {
    throw new RunnerProtocolError(`json: cannot unmarshal number ${value} into Go value of type int (at ${path})`, 'decode');
  }
  return value;
}

export function goString(value: unknown, path: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') throw typeMismatch(value, 'string', path);
  return value;
}

export function goBool(value: unknown, path: string): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value !== 'boolean') throw typeMismatch(value, 'bool', path);
  return value;
}

export function goSlice<T>(value: unknown, path: string, decodeElement: (element: unknown, path: string) => T): T[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw typeMismatch(value, 'slice', path);
  return value.map((element, index) => decodeElement(element, `${path}[${index}]`));
}

/** map[string]interface{}: any object, null gives an empty map. */
export function goMap(value: unknown, path: string): JsonObject {
  if (value === null || value === undefined) return {};
  if (!isJsonObject(value)) throw typeMismatch(value, 'map[string]interface {}', path);
  return value;
}

