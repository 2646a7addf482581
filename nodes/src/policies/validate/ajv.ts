/**
 * The JSON Schema engine: ajv with the 2020-12 dialect (the one OpenAPI 3.1 uses), one
 * instance per distinct policy config (routes with the same config share it) so `$id`s of
 * different configs never collide and a retired
 * snapshot takes its compiled code with it. Strict about the schema itself (an unknown
 * keyword such as `minimun`, or an unknown format, is a config error, not a check silently
 * skipped), and errors mapped to client-safe `{in, path, message}` items.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';

// ajv-formats is CommonJS with `exports.default`; under Node ESM the import is the
// exports object, so the plugin is on `.default` (TypeScript's view of it differs).
const mod = addFormatsModule as unknown as FormatsPlugin & { default?: FormatsPlugin };
const addFormats: FormatsPlugin = mod.default ?? mod;

export type Location = 'query' | 'params' | 'headers' | 'body';
export interface FieldError { in: Location; path: string; message: string }

/** At most this many errors go back to the client: enough to fix a request, bounded work and size. */
export const MAX_ERRORS = 20;

export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strictSchema: true,
    strictNumbers: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    logger: false,
    // Defaults are not applied: the gateway validates, it never changes what is forwarded.
    useDefaults: false,
    coerceTypes: false,
  });
  addFormats(ajv);
  // OpenAPI annotation keywords (OAS 3.1 §4.8.24 vocabulary): no validation meaning.
  ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
  return ajv;
}

function escapePointer(s: string): string {
  return s.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Append ajv errors as FieldErrors (JSON pointer paths, RFC 6901) until MAX_ERRORS. */
export function pushAjvErrors(where: Location, base: string, errs: readonly ErrorObject[] | null | undefined, out: FieldError[]): void {
  if (!errs) return;
  for (const e of errs) {
    if (out.length >= MAX_ERRORS) return;
    const p = e.params as Record<string, unknown>;
    let path = base + e.instancePath;
    let message = e.message ?? 'is invalid';
    switch (e.keyword) {
      case 'required':
      case 'dependentRequired':
        path += '/' + escapePointer(String(p.missingProperty));
        message = 'is required';
        break;
      case 'additionalProperties':
        path += '/' + escapePointer(String(p.additionalProperty));
        message = 'is not allowed';
        break;
      case 'unevaluatedProperties':
        path += '/' + escapePointer(String(p.unevaluatedProperty));
        message = 'is not allowed';
        break;
      case 'propertyNames':
        if (p.propertyName !== undefined) path += '/' + escapePointer(String(p.propertyName));
        message = 'has an invalid name';
        break;
    }
    out.push({ in: where, path, message });
  }
}

export { escapePointer };
