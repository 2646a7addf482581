/**
 * The admin API's etcd client. Every unary call has a deadline (a hung etcd must turn into a
 * 503, not a request that never ends), and etcd3's default per-host circuit breaker is
 * replaced: it refuses every call for 5 s after three failures, which would keep the admin
 * API failing after etcd is back. A call is tried once per endpoint on a recoverable
 * (connection) error, so a multi-member cluster survives one member being down.
 */
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

function tryEachHost(attempts: number): Policy {
  const signal = new AbortController().signal;
  const policy = {
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      for (let i = 1; ; i++) {
        try {
          return await fn({ signal });
        } catch (err) {
          if (i >= attempts || !isRecoverableError(err as Error)) throw err;
        }
      }
    },
  };
  return policy as unknown as Policy;
}

export interface StoreClientOptions {
  /** Deadline of each unary call in ms (default 5000). */
  callTimeout?: number;
}

export function createStoreClient(endpoints: string[], opts: StoreClientOptions = {}): Etcd3 {
  if (!endpoints.length) throw new TypeError('at least one etcd endpoint is needed');
  const callTimeout = opts.callTimeout ?? 5000;
  return new Etcd3({
    hosts: endpoints,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeout }),
    faultHandling: { host: () => tryEachHost(1), global: tryEachHost(endpoints.length) },
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // A whole config in one read can exceed grpc's default 4 MB.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    },
  });
}
