/**
 * Bounds for a form (urlencoded or multipart text fields) or a query string, so that a
 * hostile one cannot make us buffer or parse without end. A trigger form is a token, a ref
 * and its variables; a runner's form is a token, `info[...]`, and for PUT the whole trace.
 */
export interface FormLimits {
  /** The whole body, as for a JSON one (MAX_BODY_SIZE_MB). */
  maxBodyBytes: number;
  /** Fields in one form or query string (for multipart: parts). */
  fields: number;
  /** A field's value, in bytes; a field of `longFields` may take the whole body. */
  fieldBytes: number;
  fieldNameBytes: number;
  /** Top-level names whose values are long by nature (the `trace` of PUT builds/:id). */
  longFields: ReadonlySet<string>;
}

export const FORM_FIELDS = 200;
export const FORM_FIELD_BYTES = 64 * 1024;
export const FORM_FIELD_NAME_BYTES = 200;

export function formLimits(maxBodyBytes: number, longFields: ReadonlySet<string> = new Set()): FormLimits {
  return { maxBodyBytes, fields: FORM_FIELDS, fieldBytes: FORM_FIELD_BYTES, fieldNameBytes: FORM_FIELD_NAME_BYTES, longFields };
}

/** A form field as it arrived: its name (`info[name]`, `tag_list[]`) and its text. */
export type FormField = readonly [name: string, value: string];

/** The top-level parameter a field belongs to: `info` for `info[name]`. */
export function topLevelName(fieldName: string): string {
  const bracket = fieldName.indexOf('[');
  return bracket > 0 ? fieldName.slice(0, bracket) : fieldName;
}

/** Whether a field's value is too long for it; a name over the limit counts too. */
export function fieldTooLong(limits: FormLimits, name: string, valueBytes: number): boolean {
  if (Buffer.byteLength(name) > limits.fieldNameBytes) return true;
  return valueBytes > (limits.longFields.has(topLevelName(name)) ? limits.maxBodyBytes : limits.fieldBytes);
}
