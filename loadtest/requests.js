// @ts-check
/**
 * What one iteration does, for k6 (node.js, cluster.js) and for the Node engine of
 * loadtest/run.ts alike: one GET of TARGET (default the node's or HAProxy's /hello) and the
 * checks on its response. Plain data and functions, no k6 import.
 *   TARGET  the URL to GET (path included)
 */

/** @typedef {{ [name: string]: string | undefined }} Env */
/** A response as checks see it: k6's `status` and `headers` (names in Canonical-Form). */
/** @typedef {{ status: number, headers: { [name: string]: string } }} CheckedResponse */

/** @type {{ node: string, cluster: string }} */
export const DEFAULT_TARGETS = {
  node: 'http://127.0.0.1:8080/hello', // `npm start`
  cluster: 'http://127.0.0.1:8000/hello', // HAProxy in infra/compose.yaml
};

/**
 * @param {Env} env
 * @param {'node' | 'cluster'} target
 * @returns {string}
 */
export function targetUrl(env, target = 'node') {
  const url = env.TARGET || DEFAULT_TARGETS[target];
  if (!/^https?:\/\/[^/]+/.test(url)) throw new Error(`TARGET=${url}: must be an http(s) URL`);
  // A bare origin means the demo route.
  return /^https?:\/\/[^/]+\/?$/.test(url) ? `${url.replace(/\/$/, '')}/hello` : url;
}

/** Checks on every response (k6 `check()`); the checks metric is the share that passed. */
export const checks = {
  /** @param {CheckedResponse} r */
  'status is 2xx': (r) => r.status >= 200 && r.status < 300,
  /** @param {CheckedResponse} r */
  'has X-Request-Id': (r) => !!r.headers['X-Request-Id'],
};
