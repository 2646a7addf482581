// @ts-check
/**
 * k6 script: one Gatehouse node (default `npm start`'s, http://127.0.0.1:8080/hello).
 *   k6 run -e SCENARIO=smoke loadtest/node.js
 *   k6 run -e SCENARIO=load -e RATE=500 -e TARGET=http://127.0.0.1:8080/hello loadtest/node.js
 * Without k6: npm run loadtest -- --scenario smoke (same scenarios, Node engine).
 */
import http from 'k6/http';
import { check } from 'k6';
import { optionsFor } from './scenarios.js';
import { targetUrl, checks } from './requests.js';

export const options = optionsFor(__ENV.SCENARIO || 'smoke', __ENV, 'node');
const url = targetUrl(__ENV, 'node');

export default function () {
  check(http.get(url), checks);
}
