// k6 load test for a Gatehouse node or cluster (see loadtest/README.md). Not run in CI.
import http from 'k6/http';
import { check } from 'k6';

const TARGET = __ENV.TARGET || 'http://127.0.0.1:8080';
const RATE = Number(__ENV.RATE || 1000);
const PATH = __ENV.PATH_UNDER_TEST || '/hello';

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.floor(RATE / 10)),
      timeUnit: '1s',
      preAllocatedVUs: 64,
      maxVUs: 512,
      stages: [
        { target: RATE, duration: '30s' },
        { target: RATE, duration: '2m' },
        { target: 0, duration: '15s' },
      ],
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    http_req_duration: ['p(99)<50'],
  },
};

export default function () {
  const res = http.get(`${TARGET}${PATH}`);
  check(res, {
    'status is 2xx': (r) => r.status >= 200 && r.status < 300,
    'has X-Request-Id': (r) => !!r.headers['X-Request-Id'],
  });
}
