/**
 * JSON access log (pino) kept off the hot path: pino's asynchronous destination buffers
 * lines and writes them in batches; sampling drops a share of successful requests while
 * every 5xx and gateway error is always written.
 */
import pino, { type Logger } from 'pino';
import type { RequestContext } from '../request/context.ts';

export interface AccessLogOptions { enabled: boolean; sample: number }

export class AccessLogger {
  private readonly log: Logger | undefined;
  private readonly sample: number;

  constructor(opts: AccessLogOptions, destination?: pino.DestinationStream) {
    this.sample = opts.sample;
    this.log = opts.enabled
      ? pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, destination ?? pino.destination({ dest: 1, sync: false, minLength: 8192 }))
      : undefined;
  }

  /** Write buffered lines at least once a second so a quiet node's log is not held back. */
  startFlushing(): NodeJS.Timeout | undefined {
    if (!this.log) return undefined;
    const t = setInterval(() => this.log!.flush(), 1000);
    t.unref();
    return t;
  }

  write(ctx: RequestContext, now: number): void {
    const log = this.log;
    if (!log) return;
    if (ctx.status < 500 && ctx.errorCode === undefined && this.sample < 1 && Math.random() >= this.sample) return;
    log.info({
      type: 'access',
      requestId: ctx.id,
      method: ctx.method,
      host: ctx.host,
      path: ctx.path,
      route: ctx.route?.name,
      status: ctx.status,
      code: ctx.errorCode,
      client: ctx.clientIp,
      consumer: ctx.consumer?.name,
      upstream: ctx.target,
      durationMs: Math.round((now - ctx.start) * 1000) / 1000,
      upstreamMs: ctx.upstreamEnd > 0 ? Math.round((ctx.upstreamEnd - ctx.upstreamStart) * 1000) / 1000 : undefined,
    });
  }

  flush(): void { this.log?.flush(); }
}
