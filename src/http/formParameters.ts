import qs from 'qs';
import { HttpError } from './errors.js';
import { topLevelName, type FormField } from './formLimits.js';
import { acceptsArray, coerceFormValue, propertySchema, type FormSchema } from './formSchema.js';

/**
 * A form's (or a query string's) fields as the parameters they stand for, the way Rack
 * nested them: `info[name]=x` is `{info: {name: 'x'}}`, `tag_list[]=a&tag_list[]=b` an
 * array, and the text of each value becomes the type `schema` gives it. A name given twice
 * is an array where the schema takes one (`tag_list=a&tag_list=b`) and refused with 400
 * otherwise: two `token`s in one body leave it unclear which one authenticates.
 */
export function formParameters(fields: readonly FormField[], schema: FormSchema | undefined): Record<string, unknown> {
  const seen = new Map<string, number>();
  for (const [name] of fields) seen.set(name, (seen.get(name) ?? 0) + 1);
  // Kept as a query string, so that qs nests exactly what a urlencoded body would give it.
  const encoded = new URLSearchParams();
  for (const [name, value] of fields) {
    const repeated = (seen.get(name) ?? 0) > 1 && !name.endsWith('[]');
    if (repeated && !(name === topLevelName(name) && acceptsArray(propertySchema(schema, name)))) {
      throw new HttpError(400, `400 Bad request - ${name} is given more than once`);
    }
    encoded.append(repeated ? `${name}[]` : name, value);
  }
  let nested: Record<string, unknown>;
  try {
    nested = qs.parse(encoded.toString(), QS_OPTIONS);
  } catch (err) {
    // qs throws a RangeError for each limit below; the field count was checked before.
    throw new HttpError(400, `400 Bad request - ${err instanceof RangeError ? 'a form field name is nested too deeply' : 'unreadable form'}`);
  }
  return coerceFormValue(nested, schema) as Record<string, unknown>;
}

/**
 * Rack's nesting, bounded: no dots as separators (Rack has none), at most five levels, and
 * every limit an error rather than a silent cut. Keys that would shadow Object.prototype
 * (`__proto__`, `constructor`) are dropped, as qs does by default.
 */
const QS_OPTIONS: qs.IParseOptions = {
  allowDots: false,
  depth: 5,
  strictDepth: true,
  parameterLimit: 1000,
  arrayLimit: 1000,
  throwOnLimitExceeded: true,
};
