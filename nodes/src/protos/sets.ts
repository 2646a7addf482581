/**
 * Named proto sets of a config (`protos:`), compiled once per distinct content. Validation,
 * policy create() and every reload ask for a set by its sources; the parse runs only when
 * the text changed (a file-mode set is re-read, which is cheap, and hashed).
 */
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { compileProtoFiles, readProtoPath, ProtoError, type ProtoFiles } from './load.ts';

export interface ProtoSpec { path?: string; files?: Record<string, string>; entry?: string }

const compiled = new Map<string, protobuf.Root>();
const MAX_CACHED = 32;

/** The files of a set: read from disk for `path`, as given for `files`. Throws ProtoError. */
export function protoFiles(spec: ProtoSpec, baseDir: string): ProtoFiles {
  if (typeof spec.path === 'string') return readProtoPath(spec.path, baseDir);
  if (spec.files && typeof spec.entry === 'string') return { files: spec.files, entry: spec.entry };
  throw new ProtoError('needs path, or files and entry');
}

/** The compiled root of a set (cached by content). Throws ProtoError with the file and line. */
export function loadProtoSet(spec: ProtoSpec, baseDir: string): protobuf.Root {
  const set = protoFiles(spec, baseDir);
  const h = createHash('sha256');
  h.update(set.entry).update('\0');
  for (const name of Object.keys(set.files).sort()) h.update(name).update('\0').update(set.files[name]!).update('\0');
  const key = h.digest('hex');
  let root = compiled.get(key);
  if (root) { compiled.delete(key); compiled.set(key, root); return root; } // LRU order
  root = compileProtoFiles(set);
  compiled.set(key, root);
  if (compiled.size > MAX_CACHED) compiled.delete(compiled.keys().next().value!);
  return root;
}

/** Services of a set, by full name without the leading dot. */
export function servicesOf(root: protobuf.Root): Map<string, protobuf.Service> {
  const out = new Map<string, protobuf.Service>();
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Service) out.set(o.fullName.slice(1), o as protobuf.Service);
      else if ((o as protobuf.NamespaceBase).nestedArray) walk(o as protobuf.NamespaceBase);
    }
  };
  walk(root);
  return out;
}

export { ProtoError };
