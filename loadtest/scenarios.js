// @ts-check
/**
 * The load-test scenarios, as k6 options: smoke, load, spike, soak. Plain data and no k6
 * import, so the same definitions drive k6 (node.js, cluster.js import this file) and the
 * Node engine of loadtest/run.ts when k6 is not installed. Type-checked against k6's own
 * types (@types/k6, loadtest/tsconfig.json) by `npm run typecheck`.
 *
 * Every number can be changed with an environment variable (k6: `-e RATE=500`):
 *   RATE      requests per second at the plateau (default 200 for a node, 600 for the cluster)
 *   DURATION  how long smoke and soak run (default 10s and 10m)
 *   HOLD      how long load stays at RATE (default 2m)
 *   PEAK      the spike's top rate (default 5 x RATE)
 *   P99_MS    the p(99) latency threshold in ms (defaults below)
 *   MAX_VUS   the most requests in flight at once (default 200)
 */

/** @typedef {import('k6/options').Options} Options */
/** @typedef {import('k6/options').Scenario} Scenario */
/** @typedef {{ [name: string]: string | undefined }} Env */

export const SCENARIOS = /** @type {const} */ (['smoke', 'load', 'spike', 'soak']);

/**
 * @param {Env} env
 * @param {string} key
 * @param {number} fallback
 */
function num(env, key, fallback) {
  const v = env[key];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${key}=${v}: must be a positive number`);
  return n;
}

/**
 * The k6 options for one scenario.
 * @param {string} name one of SCENARIOS
 * @param {Env} env __ENV under k6, the runner's environment under Node
 * @param {'node' | 'cluster'} target a single node, or the cluster behind HAProxy
 * @returns {Options}
 */
export function optionsFor(name, env, target = 'node') {
  const rate = num(env, 'RATE', target === 'cluster' ? 600 : 200);
  const maxVUs = num(env, 'MAX_VUS', 200);
  const pre = Math.min(maxVUs, 20);
  /** @param {number} ms */
  const p99 = (ms) => `p(99)<${num(env, 'P99_MS', ms)}`;
  /** @type {Scenario} */
  let scenario;
  /** @type {Options['thresholds']} */
  let thresholds;
  switch (name) {
    case 'smoke': // a few requests a second: does every request succeed, quickly?
      scenario = { executor: 'constant-arrival-rate', rate: num(env, 'RATE', 10), timeUnit: '1s', duration: env.DURATION || '10s', preAllocatedVUs: 2, maxVUs: 10 };
      thresholds = { http_req_failed: ['rate==0'], http_req_duration: [p99(250)], checks: ['rate==1'] };
      break;
    case 'load': // ramp to the target rate, hold it, ramp down
      scenario = {
        executor: 'ramping-arrival-rate', startRate: Math.max(1, Math.floor(rate / 10)), timeUnit: '1s', preAllocatedVUs: pre, maxVUs,
        stages: [{ duration: env.RAMP || '30s', target: rate }, { duration: env.HOLD || '2m', target: rate }, { duration: '15s', target: 0 }],
      };
      thresholds = { http_req_failed: ['rate<0.001'], http_req_duration: [p99(100)], dropped_iterations: ['count<1'] };
      break;
    case 'spike': { // steady, then a sudden burst of PEAK for 20 s, then steady again
      const peak = num(env, 'PEAK', rate * 5);
      scenario = {
        executor: 'ramping-arrival-rate', startRate: rate, timeUnit: '1s', preAllocatedVUs: pre, maxVUs,
        stages: [{ duration: '10s', target: rate }, { duration: '5s', target: peak }, { duration: '20s', target: peak }, { duration: '5s', target: rate }, { duration: '10s', target: rate }],
      };
      thresholds = { http_req_failed: ['rate<0.01'], http_req_duration: [p99(500)] };
      break;
    }
    case 'soak': // a fixed rate for a long time: latency and errors must not creep up
      scenario = { executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration: env.DURATION || '10m', preAllocatedVUs: pre, maxVUs };
      thresholds = {
        http_req_failed: [{ threshold: 'rate<0.001', abortOnFail: true, delayAbortEval: '30s' }],
        http_req_duration: [p99(100)],
        dropped_iterations: ['count<1'],
      };
      break;
    default:
      throw new Error(`unknown scenario "${name}"; one of: ${SCENARIOS.join(', ')}`);
  }
  return { scenarios: { [name]: scenario }, thresholds, summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'] };
}
