// Which HTTP answers are worth sending the same request again, for every outbound path (OTLP log
// export, weekly submission, registration, erasure). Network errors (no answer at all) are
// retried separately by each caller; this rule is only about answers.
//
// Retried: 408 Request Timeout, 429 Too Many Requests, and every 5xx except 501 Not Implemented
// and 505 HTTP Version Not Supported (those say the receiver will never handle this request).
// Everything else — 1xx/3xx that reached us, 400, 401, 403, 404, 409, 413, 422, … — is final:
// sending the same bytes again cannot change the answer, so a misconfiguration cannot loop.

const NEVER_RETRIED_5XX = new Set([501, 505]);

export function isRetryableStatus(status: number): boolean {
  if (!Number.isInteger(status)) return false;
  if (status === 408 || status === 429) return true;
  return status >= 500 && status <= 599 && !NEVER_RETRIED_5XX.has(status);
}
