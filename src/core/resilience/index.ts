// The resilience toolkit shared by every outbound and buffered path (see each file).
export { RingBuffer } from './ring-buffer.js';
export { DeadlineExceededError, withDeadline } from './deadline.js';
export { backoff, type Backoff, type BackoffPolicy } from './backoff.js';
export { isRetryableStatus } from './retryable-status.js';
export { MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-after.js';
