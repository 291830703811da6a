import test from 'ava';
import { isRetryableStatus } from '../../src/core/resilience/retryable-status.js';

test('408, 429 and 5xx are retried', (t) => {
  for (const status of [408, 429, 500, 502, 503, 504, 507, 511, 599]) t.true(isRetryableStatus(status), String(status));
});

test('501 and 505 are final: the receiver will never handle the request', (t) => {
  t.false(isRetryableStatus(501));
  t.false(isRetryableStatus(505));
});

test('every other answer is final (a misconfiguration cannot loop)', (t) => {
  for (const status of [100, 200, 204, 301, 304, 400, 401, 403, 404, 409, 413, 415, 422, 499]) t.false(isRetryableStatus(status), String(status));
});

test('garbage is not retryable', (t) => {
  for (const status of [Number.NaN, 503.5, -503, 600, 1000]) t.false(isRetryableStatus(status), String(status));
});
