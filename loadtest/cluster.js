// @ts-check
/**
 * k6 script: the cluster behind HAProxy (infra/compose.yaml: http://127.0.0.1:8000/hello).
 * Higher default rate than node.js (three nodes); the same scenarios and thresholds.
 *   k6 run -e SCENARIO=spike loadtest/cluster.js
 * Without k6: npm run loadtest -- --script cluster --scenario spike
 */
import http from 'k6/http';
import { check } from 'k6';
import { optionsFor } from './scenarios.js';
import { targetUrl, checks } from './requests.js';

export const options = optionsFor(__ENV.SCENARIO || 'smoke', __ENV, 'cluster');
const url = targetUrl(__ENV, 'cluster');

export default function () {
  check(http.get(url), checks);
}
