/**
 * Standalone config: one YAML or JSON file, watched. Editors often replace a file by
 * rename, which ends a watch on the file itself, so the folder is watched and events are
 * filtered by name. A JSON file is read at once on each event and applied when it is a whole
 * document: a file being written is a prefix of its new text, and no proper prefix of a JSON
 * object is a JSON object, so nothing half-written can be applied. Anything else (YAML, where
 * a prefix can be a valid smaller config; a JSON text that does not parse yet) waits for
 * 20 ms of quiet, which coalesces an editor's write and rename or a tool's several events.
 * Where the folder cannot be watched (inotify limits reached, some network file systems) the
 * file is polled once a second instead: slower, never silent.
 */
import { isAscii } from 'node:buffer';
import { closeSync, fstatSync, openSync, readFileSync, readSync, unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import YAML from 'yaml';
import type { ConfigSource, ConfigUpdate } from './source.ts';
import { ProtoWatch } from '../protos/watch.ts';
import { JsonItemReader, countKeys } from './json-items.ts';

/** Quiet time before a changed file is read: part of every edit's latency, so short. */
const QUIET_MS = 20;

export interface ParsedFile { doc: unknown; error?: string }

/** Parse YAML (JSON is YAML) with duplicate keys rejected: a silently dropped key is a config bug. */
export function parseConfigText(text: string): ParsedFile {
  // JSON (what generators and config tools write) takes the native parser: on a 13 MB
  // document YAML's parser takes tens of seconds and gigabytes, JSON.parse a fraction of one.
  // JSON.parse keeps the last of duplicate keys silently, so when the member count says a key
  // repeats, the YAML parser below reports it with its position.
  const json = parseJsonOnce(text);
  if (json !== undefined) return { doc: json };
  const d = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (d.errors.length) return { doc: undefined, error: d.errors.map((e) => e.message.split('\n')[0]).join('; ') };
  return { doc: d.toJS({ maxAliasCount: 100 }) ?? {} };
}

/** The document when text is JSON without duplicate keys, else undefined (YAML decides). */
function parseJsonOnce(text: string): unknown {
  const first = text.trimStart().charCodeAt(0);
  if (first !== 0x7b /* { */) return undefined;
  let doc: unknown;
  try { doc = JSON.parse(text); } catch { return undefined; }
  return countMembers(text) === countKeys(doc) ? doc : undefined;
}

/** Name-value separators (':') outside strings: one per object member written in the text. */
function countMembers(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) n++;
    else if (c === 0x22) {
      // Skip the string; a backslash escapes the next character.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    }
  }
  return n;
}

/**
 * The file's text. Config files are nearly always ASCII, and for those the ASCII decoder is
 * several times faster than UTF-8's (a 12.7 MB file: about 2 ms against 7-12 ms, on every
 * edit); anything else is decoded as UTF-8, as before.
 */
export function readText(path: string): string {
  const buf = readFileSync(path);
  return isAscii(buf) ? buf.toString('ascii') : buf.toString('utf8');
}

/**
 * A file's bytes, read into one buffer that is reused from read to read (grown when a file
 * outgrows it): a 13 MB config edited twice a second would otherwise be 13 MB of new memory
 * outside V8's heap per edit, and V8 answers that much external memory with a major GC every
 * few edits. The view returned is valid until the next read.
 */
export class FileBytes {
  #buf: Buffer = Buffer.allocUnsafeSlow(64 * 1024);

  read(path: string): Buffer {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (this.#buf.length <= size) this.#buf = Buffer.allocUnsafeSlow(size + (size >> 3) + 1);
      let n = 0;
      // Until the end of the file: it may have grown since the stat (a writer is still at it).
      for (;;) {
        if (n === this.#buf.length) {
          const bigger = Buffer.allocUnsafeSlow(this.#buf.length * 2);
          this.#buf.copy(bigger, 0, 0, n);
          this.#buf = bigger;
        }
        const got = readSync(fd, this.#buf, n, this.#buf.length - n, null);
        if (got === 0) break;
        n += got;
      }
      return this.#buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  }
}

/** readConfigFile through an item reader (JSON files), so a FileSource given the same reader starts from this read. */
export function readConfigFileWith(path: string, items: JsonItemReader): ParsedFile {
  let bytes: Buffer;
  try {
    bytes = new FileBytes().read(path);
  } catch (err) {
    return { doc: undefined, error: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  const doc = items.read(bytes);
  return doc ? { doc } : parseConfigText(bytes.toString('utf8'));
}

export function readConfigFile(path: string): ParsedFile {
  let text: string;
  try {
    text = readText(path);
  } catch (err) {
    return { doc: undefined, error: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  return parseConfigText(text);
}

export class FileSource implements ConfigSource {
  readonly kind = 'file';
  private readonly path: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private revision = 0;
  /** The last text read when it was not JSON the item reader took (YAML): a touch without change is not a reload. */
  private last = '';
  /** Set when something the file names changed (a proto file): the next read reloads even if the file is the same. */
  private force = false;
  private readonly bytes = new FileBytes();
  private readonly items: JsonItemReader = new JsonItemReader();
  /** Proto files named by `protos.*.path`: a change to one reloads like a config change. */
  private readonly protos = new ProtoWatch(() => { this.force = true; clearTimeout(this.timer); this.timer = setTimeout(this.reload, 50); });
  private reload: () => void = () => undefined;

  /** `items`: a reader that has read this file already (the start-up's), so the first load parses nothing again. */
  constructor(path: string, items?: JsonItemReader) {
    this.path = path;
    if (items) this.items = items;
  }

  async start(onUpdate: (u: ConfigUpdate) => void): Promise<void> {
    /** `eager`: called at the event itself; applies only a whole JSON document, else leaves it to the quiet-time read. */
    const emit = (eager = false): boolean => {
      const t0 = performance.now();
      let bytes: Buffer | undefined;
      try { bytes = this.bytes.read(this.path); } catch { /* reported by readConfigFile below */ }
      // JSON: unchanged items keep their objects from the last read (json-items.ts); anything
      // else, or anything that reader does not accept, takes the whole-document parser.
      const fast = bytes?.length ? this.items.read(bytes) : undefined;
      const force = this.force;
      let text = '';
      if (fast) {
        if (this.items.unchanged && this.revision > 0 && !force) return true; // touch without change
      } else {
        if (eager) return false;
        text = bytes ? bytes.toString('utf8') : '';
        if (text === this.last && this.revision > 0 && !force) return true;
      }
      this.last = text;
      this.force = false;
      // The text just read is parsed as it is (not read again); an unreadable file reports why.
      const { doc, error } = fast ? { doc: fast, error: undefined } : bytes ? parseConfigText(text) : readConfigFile(this.path);
      this.revision++;
      this.protos.update(doc, dirname(this.path));
      const { node, ...dynamic } = (doc ?? {}) as Record<string, unknown>;
      onUpdate({ config: dynamic, revision: this.revision, readMs: performance.now() - t0, ...(fast ? { stable: true } : {}), ...(error ? { error } : {}), ...(node && typeof node === 'object' ? { node: node as ConfigUpdate['node'] } : {}) });
      return true;
    };
    this.reload = emit;
    emit();
    const name = basename(this.path);
    const later = (): void => { clearTimeout(this.timer); this.timer = setTimeout(emit, QUIET_MS); };
    // The last read was JSON: most likely this one is too, so try it now.
    const soon = (): void => { if (!(this.revision > 0 && this.items.accepted && emit(true))) later(); };
    try {
      this.watcher = watch(dirname(this.path), (_event, file) => { if (!file || file === name) soon(); });
      this.watcher.on('error', () => { this.watcher?.close(); this.watcher = undefined; this.poll(later); });
    } catch {
      this.poll(later);
    }
  }

  /** Polling instead of a watch: the file's stat, once a second. */
  private polling = false;
  private poll(soon: () => void): void {
    if (this.polling) return;
    this.polling = true;
    watchFile(this.path, { interval: 1000, persistent: false }, soon);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    if (this.polling) unwatchFile(this.path);
    this.protos.close();
  }
}
