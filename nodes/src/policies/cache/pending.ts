/**
 * Request coalescing (the "cache lock" of nginx's proxy_cache_lock, Varnish's waiting list):
 * while one request fills or revalidates a key, the others for that key wait here, then
 * look the key up again. A waiter waits at most `lockMs`: a slow fill (a slow client reading
 * the filling response) must not hold every other client of that key.
 */
export class Pending {
  private promise: Promise<void> | undefined = undefined;
  private release: (() => void) | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  private settled = false;
  private readonly registry: Map<string, Pending>;
  readonly key: string;

  constructor(registry: Map<string, Pending>, key: string) {
    this.registry = registry;
    this.key = key;
    registry.set(key, this);
  }

  /** Resolves when the fill ends or `lockMs` passed, whichever comes first. Never rejects. */
  wait(lockMs: number): Promise<void> {
    if (this.settled) return Promise.resolve();
    if (this.promise === undefined) {
      // Built for the first waiter only: a fill nobody waits for costs no promise or timer.
      this.promise = new Promise<void>((r) => { this.release = r; });
      this.timer = setTimeout(this.wake, lockMs);
    }
    return this.promise;
  }

  /** The fill or revalidation is over (stored, refused or failed): wake the waiters. */
  settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.registry.get(this.key) === this) this.registry.delete(this.key);
    this.wake();
  }

  private readonly wake = (): void => {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    const r = this.release;
    this.release = undefined;
    r?.();
  };
}
