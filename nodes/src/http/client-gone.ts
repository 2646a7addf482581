/**
 * "The client went away" for in-flight proxied requests, with one 'close' listener per
 * client connection instead of one per response: a keep-alive connection carries many
 * requests, and an EventEmitter `once` per request (a wrapper closure, a listener array
 * rewritten twice) is measurable on the proxy path. Pipelined requests on one connection
 * are all told.
 */
import type { Socket } from 'node:net';

export interface ClientWatcher { onClientGone(): void }

const LIVE = Symbol('gatehouse.live');
type Watched = Socket & { [LIVE]?: ClientWatcher[] };

/**
 * What to watch for a request: its connection (HTTP/1.1), or its stream (HTTP/2: the
 * connection is shared by every stream on it, so it must not be watched for one stream).
 */
export function clientOf(req: { socket: Socket | null }): Socket | null {
  const s = (req as { stream?: Socket }).stream;
  return s === undefined ? req.socket : s;
}

export function watchClient(socket: Socket | null, w: ClientWatcher): void {
  // Node drops a request's socket once the connection is gone: then there is nothing to watch.
  if (socket === null || socket.destroyed) { queueMicrotask(() => { w.onClientGone(); }); return; }
  const s = socket as Watched;
  let list = s[LIVE];
  if (list === undefined) {
    list = s[LIVE] = [];
    // One shared listener (no closure, no `once` wrapper): an HTTP/2 stream is watched per request.
    socket.on('close', onGone);
  }
  list.push(w);
}

function onGone(this: Watched): void {
  const gone = this[LIVE];
  if (gone === undefined) return;
  this[LIVE] = [];
  for (const x of gone) x.onClientGone();
}

export function unwatchClient(socket: Socket | null, w: ClientWatcher): void {
  if (socket === null) return;
  const list = (socket as Watched)[LIVE];
  if (list === undefined) return;
  const last = list.length - 1;
  if (last >= 0 && list[last] === w) { list.pop(); return; }
  const i = list.indexOf(w);
  if (i >= 0) list.splice(i, 1);
}
