/**
 * google.api.http path templates (google/api/http.proto, "Path template syntax"):
 *
 *   Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable ;
 *   Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;
 *
 * compiled once into an anchored RegExp with one capture group per variable. `{x}` is
 * `{x=*}` (one segment); `**` matches the rest of the path and may only come last.
 */
export interface CompiledTemplate {
  regex: RegExp;
  /** Field paths of the variables, in capture-group order. */
  vars: Array<{ path: string[]; multi: boolean }>;
  /** Literal segments (and the verb): more of them = more specific, tried first. */
  literals: number;
  text: string;
}

const LITERAL = /^[A-Za-z0-9._~!$&'()+,;=@%-]+$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function compileTemplate(text: string): CompiledTemplate {
  if (!text.startsWith('/')) throw new Error(`path template "${text}" must start with /`);
  // The verb is a ':' after the last '/' that is outside a variable.
  let depth = 0, verbAt = -1, lastSlash = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === '/' && depth === 0) { lastSlash = i; verbAt = -1; } else if (c === ':' && depth === 0 && i > lastSlash) verbAt = i;
  }
  if (depth !== 0) throw new Error(`path template "${text}": unbalanced braces`);
  const body = verbAt < 0 ? text.slice(1) : text.slice(1, verbAt);
  const verb = verbAt < 0 ? '' : text.slice(verbAt + 1);
  if (verbAt >= 0 && !LITERAL.test(verb)) throw new Error(`path template "${text}": bad verb`);
  const vars: CompiledTemplate['vars'] = [];
  let literals = verb ? 1 : 0;
  let re = '^';
  const segs = splitTop(body);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    re += '/';
    if (s.startsWith('{')) {
      const inner = s.slice(1, -1);
      const eq = inner.indexOf('=');
      const fieldPath = (eq < 0 ? inner : inner.slice(0, eq)).split('.');
      if (!fieldPath.every((p) => IDENT.test(p))) throw new Error(`path template "${text}": bad field path "${inner}"`);
      const sub = eq < 0 ? ['*'] : inner.slice(eq + 1).split('/');
      let part = '';
      let multi = sub.length > 1;
      for (let j = 0; j < sub.length; j++) {
        const x = sub[j]!;
        if (j) part += '/';
        if (x === '*') part += '[^/]+';
        else if (x === '**') { if (j !== sub.length - 1 || i !== segs.length - 1) throw new Error(`path template "${text}": ** must come last`); part += '.+'; multi = true; }
        else if (LITERAL.test(x)) { part += esc(x); literals++; }
        else throw new Error(`path template "${text}": bad segment "${x}"`);
      }
      re += `(${part})`;
      vars.push({ path: fieldPath, multi });
    } else if (s === '*') re += '[^/]+';
    else if (s === '**') { if (i !== segs.length - 1) throw new Error(`path template "${text}": ** must come last`); re += '.+'; } else if (LITERAL.test(s)) { re += esc(s); literals++; } else throw new Error(`path template "${text}": bad segment "${s}"`);
  }
  if (verb) re += ':' + esc(verb);
  re += '$';
  return { regex: new RegExp(re), vars, literals, text };
}

/** Split on '/' outside braces. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}') depth--;
    else if (s[i] === '/' && depth === 0) { out.push(s.slice(start, i)); start = i + 1; }
  }
  out.push(s.slice(start));
  if (out.some((x) => x === '')) throw new Error(`path template "/${s}": empty segment`);
  return out;
}

/**
 * A captured value as the field's text: percent-escapes decoded. A single-segment value may
 * not hold '/' even encoded; the gateway's path normaliser has refused `%2F` already.
 */
export function decodeVar(v: string): string | undefined {
  if (v.indexOf('%') < 0) return v;
  try { return decodeURIComponent(v); } catch { return undefined; }
}
