/**
 * The parts of a (dereferenced) JSON schema from openapi.yaml that reading a form needs:
 * which type a parameter has, so that its text can become that type.
 */
export interface FormSchema {
  type?: string;
  properties?: Record<string, FormSchema>;
  additionalProperties?: boolean | FormSchema;
  items?: FormSchema;
  oneOf?: FormSchema[];
  anyOf?: FormSchema[];
  allOf?: FormSchema[];
}

/** The schema of property `name` of an object schema (looking through allOf), if it has one. */
export function propertySchema(schema: FormSchema | undefined, name: string): FormSchema | undefined {
  if (!schema) return undefined;
  const own = schema.properties?.[name];
  if (own) return own;
  for (const part of schema.allOf ?? []) {
    const found = propertySchema(part, name);
    if (found) return found;
  }
  return typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
}

/** Whether a value of this schema may be an array (`tag_list`: a string or an array). */
export function acceptsArray(schema: FormSchema | undefined): boolean {
  if (!schema) return false;
  if (schema.type === 'array') return true;
  return [...(schema.oneOf ?? []), ...(schema.anyOf ?? []), ...(schema.allOf ?? [])].some(acceptsArray);
}

// Grape coerced declared Boolean parameters with Virtus, whose spellings are these (any case).
const TRUE_SPELLINGS = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_SPELLINGS = new Set(['0', 'off', 'f', 'false', 'n', 'no']);
const INTEGER = /^[-+]?\d+$/;
const NUMBER = /^[-+]?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Turns a form's text values into the types its schema declares: booleans from Grape's
 * spellings, numbers from numerals, nested objects and arrays member by member. A value that
 * does not read as its type stays text, so that validation refuses it in the words it uses
 * for a JSON body (`run_untagged must be boolean`). JSON bodies never come here: their types
 * are the client's.
 */
export function coerceFormValue(value: unknown, schema: FormSchema | undefined): unknown {
  if (!schema) return value;
  let coerced = value;
  for (const part of schema.allOf ?? []) coerced = coerceFormValue(coerced, part);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return coerceToAlternative(coerced, alternatives);
  if (typeof coerced === 'string') return coerceText(coerced, schema.type);
  if (Array.isArray(coerced)) return schema.type === 'array' ? coerced.map((item) => coerceFormValue(item, schema.items)) : coerced;
  if (isPlainObject(coerced) && (schema.type === 'object' || schema.properties || schema.additionalProperties)) {
    return Object.fromEntries(Object.entries(coerced).map(([key, inner]) => [key, coerceFormValue(inner, propertySchema(schema, key))]));
  }
  return coerced;
}

/** The first alternative the value already is, or else the first it can be read as. */
function coerceToAlternative(value: unknown, alternatives: FormSchema[]): unknown {
  const fitting = alternatives.find((alternative) => hasType(value, alternative.type));
  if (fitting) return coerceFormValue(value, fitting);
  for (const alternative of alternatives) {
    const coerced = coerceFormValue(value, alternative);
    if (hasType(coerced, alternative.type)) return coerced;
  }
  return value;
}

function coerceText(text: string, type: string | undefined): unknown {
  switch (type) {
    case 'boolean': {
      const spelling = text.toLowerCase();
      if (TRUE_SPELLINGS.has(spelling)) return true;
      if (FALSE_SPELLINGS.has(spelling)) return false;
      return text;
    }
    case 'integer':
      return INTEGER.test(text) ? Number(text) : text;
    case 'number':
      return NUMBER.test(text) ? Number(text) : text;
    default:
      return text;
  }
}

function hasType(value: unknown, type: string | undefined): boolean {
  switch (type) {
    case undefined:
      return true;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isPlainObject(value);
    case 'integer':
      return Number.isInteger(value);
    default:
      return typeof value === type;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
