/** A small client of the admin API for gatewayctl: JSON in, JSON or problem+json out. */
export interface ApiProblem {
  status: number;
  code: string;
  title: string;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
  notes?: string[];
}

export type ApiResult<T> = { ok: true; status: number; body: T } | { ok: false; problem: ApiProblem };

/** Thrown when the admin API cannot be reached or answers with something that is not JSON. */
export class ApiUnreachable extends Error {}

export class AdminClient {
  readonly base: string;
  readonly #token: string;
  readonly #timeout: number;

  constructor(base: string, token: string, timeoutMs = 30_000) {
    this.base = base.replace(/\/+$/, '');
    this.#token = token;
    this.#timeout = timeoutMs;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeout),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      const why = cause?.code ?? ((err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message);
      throw new ApiUnreachable(`cannot reach the admin API at ${this.base} (${why})`, { cause: err });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiUnreachable(`the admin API at ${this.base} answered ${res.status} with a body that is not JSON`);
    }
    if (res.ok) return { ok: true, status: res.status, body: json as T };
    const p = (json ?? {}) as Partial<ApiProblem>;
    return {
      ok: false,
      problem: {
        status: res.status,
        code: String(p.code ?? `HTTP_${res.status}`),
        title: String(p.title ?? res.statusText),
        detail: String(p.detail ?? p.title ?? res.statusText),
        ...(Array.isArray(p.errors) ? { errors: p.errors } : {}),
        ...(Array.isArray(p.notes) ? { notes: p.notes } : {}),
      },
    };
  }
}
