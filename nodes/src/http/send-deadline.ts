/**
 * The write deadline on client connections (`node.limits.sendTimeout`, like nginx's
 * `send_timeout`): a response whose bytes stop leaving for the client for that long has its
 * connection closed, which ends the upstream exchange behind it (client-gone.ts) and frees
 * the pooled upstream connection it held.
 *
 * Nothing is done per request: a response is registered only when a write to it returned
 * false (the client is behind), and one coarse timer per node checks the registered ones.
 * Progress is bytes handed to the kernel (`bytesWritten - writableLength` of the socket), so
 * a client that reads slowly but steadily is not cut; one that reads nothing is.
 *
 * An HTTP/2 response is one stream of a shared connection: its progress is its own queue
 * moving, and a cut resets that stream (CANCEL), never the connection the other streams use.
 */
import type { ServerResponse } from 'node:http';
import { CANCEL } from './h2/connection.ts';
import { performance } from 'node:perf_hooks';

interface Stall { since: number; flushed: number }

export class SendDeadlines {
  readonly timeoutMs: number;
  /** Client connections cut for lack of write progress (the metric reads it). */
  timeouts = 0;
  /** Responses the upstream finished while their client was still behind: buffering freed the upstream connection early. */
  buffered = 0;
  private readonly stalled = new Map<ServerResponse, Stall>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly everyMs: number;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.everyMs = Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4)));
  }

  /** Responses whose client is behind right now. */
  get size(): number { return this.stalled.size; }

  /** A write to `res` returned false: watch it until its bytes move again or it is gone. */
  stall(res: ServerResponse): void {
    if (this.stalled.has(res)) return;
    const f = flushed(res);
    if (f === undefined) return;
    this.stalled.set(res, { since: performance.now(), flushed: f });
    this.timer ??= setInterval(this.sweep, this.everyMs).unref();
  }

  /** The client caught up ('drain'). */
  progress(res: ServerResponse): void {
    this.stalled.delete(res);
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stalled.clear();
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    for (const [res, s] of this.stalled) {
      const f = flushed(res);
      if (f === undefined) { this.stalled.delete(res); continue; }
      if (f !== s.flushed) { s.flushed = f; s.since = now; continue; }
      if (now - s.since < this.timeoutMs) continue;
      this.stalled.delete(res);
      this.timeouts++;
      cut(res);
    }
    if (this.stalled.size === 0 && this.timer !== undefined) { clearInterval(this.timer); this.timer = undefined; }
  };
}

/** What the deadline uses of an HTTP/2 response's stream (listeners/h2-wire.ts). */
interface ResponseStream { readonly destroyed: boolean; readonly closed: boolean; readonly writableLength: number; close(code: number): void }

/** The HTTP/2 stream behind a response (undefined for HTTP/1.1). */
function streamOf(res: ServerResponse): ResponseStream | undefined {
  return (res as unknown as { stream?: ResponseStream }).stream;
}

/**
 * A progress mark that changes when the client takes bytes: for HTTP/1.1 the bytes of the
 * connection handed to the kernel, for HTTP/2 the stream's own queue. Undefined once there
 * is nothing left to watch (gone, or finished with nothing queued).
 */
function flushed(res: ServerResponse): number | undefined {
  const stream = streamOf(res);
  if (stream !== undefined) {
    if (stream.destroyed || stream.closed || (res.writableFinished && stream.writableLength === 0)) return undefined;
    return -stream.writableLength;
  }
  const sock = res.socket;
  if (sock == null || sock.destroyed || (res.writableFinished && sock.writableLength === 0)) return undefined;
  return sock.bytesWritten - sock.writableLength;
}

function cut(res: ServerResponse): void {
  const stream = streamOf(res);
  if (stream !== undefined) stream.close(CANCEL);
  else res.socket?.destroy();
}
