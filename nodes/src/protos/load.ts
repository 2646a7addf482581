/**
 * Proto sets as config (contract "Protocol conversion"): a set is `{ path }` (file mode) or
 * `{ files, entry }` (name → text, what the cluster stores under <prefix>/protos/<name>).
 *
 * Import resolution is the same in both modes, so `gatewayctl apply` can turn a path into
 * files without changing what any import means: an import "a/b.proto" is looked up in the
 * importing file's folder, then in each parent folder in turn (first match wins); then
 * among the built-in files (builtin.ts) and protobufjs's well-known types. In file mode the
 * folders are real ones (never above the filesystem root); in files mode they are the
 * names' folders ("x/y/z.proto" → "x/y/", "x/", "").
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import protobuf from 'protobufjs';
import { builtinProto, ALWAYS_LOADED } from './builtin.ts';

export interface ProtoFiles {
  /** name (as imports spell it) → source text */
  files: Record<string, string>;
  entry: string;
}

export class ProtoError extends Error {}

const MAX_FILES = 512;

function candidates(importer: string, name: string): string[] {
  const out: string[] = [];
  let dir = importer.includes('/') ? importer.slice(0, importer.lastIndexOf('/')) : '';
  for (;;) {
    out.push(dir ? `${dir}/${name}` : name);
    if (!dir) return out;
    dir = dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '';
  }
}

const WELL_KNOWN = (protobuf as unknown as { common: Record<string, unknown> & { get(f: string): { nested?: protobuf.INamespace['nested'] } | null } }).common;

function isWellKnown(name: string): boolean {
  return name.startsWith('google/protobuf/') && WELL_KNOWN.get(name) !== null;
}

/**
 * Read a file-mode set from disk: the entry and everything it imports, named relative to
 * the highest folder any import was found in. The result is what `files` mode holds.
 */
export function readProtoPath(path: string, baseDir: string, read?: Set<string>): ProtoFiles {
  const entryAbs = isAbsolute(path) ? path : resolve(baseDir, path);
  const found = new Map<string, string>(); // absolute path → text
  const queue = [entryAbs];
  let root = dirname(entryAbs); // the highest folder an import was found from: names are relative to it
  while (queue.length) {
    const abs = queue.shift()!;
    if (found.has(abs)) continue;
    if (found.size >= MAX_FILES) throw new ProtoError(`more than ${MAX_FILES} files`);
    let text: string;
    read?.add(abs); // watched even when missing: creating it is a change
    try { text = readFileSync(abs, 'utf8'); } catch (err) {
      throw new ProtoError(`cannot read ${abs === entryAbs ? path : abs}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    found.set(abs, text);
    read?.add(abs);
    for (const imp of importsOf(text, abs)) {
      let dir = dirname(abs);
      for (;;) {
        const cand = join(dir, imp);
        let exists = found.has(cand);
        if (!exists) { try { readFileSync(cand); exists = true; } catch { /* try the parent */ } }
        if (exists) { queue.push(cand); if (root.startsWith(dir + sep) || root === dir) root = dir; break; }
        const up = dirname(dir);
        if (up === dir) {
          if (builtinProto(imp) === undefined && !isWellKnown(imp)) throw new ProtoError(`${relative(baseDir, abs) || abs}: import "${imp}" not found in its folder or any parent`);
          break;
        }
        dir = up;
      }
    }
  }
  // Every file's name is relative to `root`, so each import finds the same file in files mode.
  for (const abs of found.keys()) while (!abs.startsWith(root + sep)) root = dirname(root);
  const files: Record<string, string> = {};
  for (const [abs, text] of found) files[relative(root, abs).split(sep).join('/')] = text;
  return { files, entry: relative(root, entryAbs).split(sep).join('/') };
}

const IMPORT = /^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm;
/** Import names of a file, read with protobufjs's tokenizer-free regex (the parser checks the rest later). */
function importsOf(text: string, _where: string): string[] {
  const out: string[] = [];
  for (const m of text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '').matchAll(IMPORT)) out.push(m[1]!);
  return out;
}

/**
 * Parse a set into one protobufjs Root (all names resolved). Throws ProtoError with the
 * file and line of the first problem.
 */
export function compileProtoFiles(set: ProtoFiles): protobuf.Root {
  if (!(set.entry in set.files)) throw new ProtoError(`entry "${set.entry}" is not one of the files`);
  const root = new protobuf.Root();
  const done = new Set<string>();
  const load = (name: string, text: string, depth: number): void => {
    if (done.has(name)) return;
    done.add(name);
    if (depth > 64) throw new ProtoError(`${name}: imports nested too deep`);
    let parsed: protobuf.IParserResult;
    try {
      parsed = protobuf.parse(text, root, { keepCase: true, alternateCommentMode: false });
    } catch (err) {
      throw new ProtoError(`${name}: ${(err as Error).message.replace(/^illegal/, 'syntax error:')}`);
    }
    for (const imp of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) {
      const own = candidates(name, imp).find((c) => c in set.files);
      if (own !== undefined) { load(own, set.files[own]!, depth + 1); continue; }
      const builtin = builtinProto(imp);
      if (builtin !== undefined) { load(imp, builtin, depth + 1); continue; }
      if (isWellKnown(imp)) { if (!done.has(imp)) { done.add(imp); root.addJSON(WELL_KNOWN.get(imp)!.nested!); } continue; }
      throw new ProtoError(`${name}: import "${imp}" not found`);
    }
  };
  try {
    load(set.entry, set.files[set.entry]!, 0);
    for (const f of ALWAYS_LOADED) if (!done.has(f)) load(f, builtinProto(f)!, 1);
    root.resolveAll();
  } catch (err) {
    if (err instanceof ProtoError) throw err;
    throw new ProtoError((err as Error).message);
  }
  return root;
}
