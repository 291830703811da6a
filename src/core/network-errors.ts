// Names why an outbound request failed. fetch() rejects with a bare "TypeError: fetch failed" and
// keeps the reason in `cause` (sometimes nested); node:http errors carry a `code`. Both the OTLP
// export and the collector submission report failures through this, so an operator reads the same
// words (ECONNREFUSED, a DNS failure, a TLS error, a timeout) whichever path failed.
import { describeError } from './logging.js';

const MAX_CAUSE_DEPTH = 5;

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|EPROTO$)/;

/** Removes `user:password@` from any URL inside a message (undici quotes the URL it refused). */
export function withoutUserinfo(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The error and its `cause` chain, outermost first. */
function chainOf(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = err; current !== undefined && current !== null && chain.length < MAX_CAUSE_DEPTH; current = (current as { cause?: unknown }).cause) {
    chain.push(current);
    if (typeof current !== 'object') break;
  }
  return chain;
}

/**
 * A short, credential-free cause of a failed request: "ECONNREFUSED (connection refused)",
 * "ENOTFOUND (DNS lookup failed)", "TLS error CERT_HAS_EXPIRED: …", "timeout (no answer within …)";
 * null when the error is none of the known network failures.
 */
export function networkCauseOf(err: unknown): string | null {
  const chain = chainOf(err);
  for (const link of chain) {
    const name = link instanceof Error || link instanceof DOMException ? link.name : undefined;
    if (name === 'TimeoutError') return 'timeout (no answer within the time limit)';
    const code = codeOf(link);
    if (!code) continue;
    if (code === 'ECONNREFUSED') return 'ECONNREFUSED (connection refused)';
    if (code === 'ECONNRESET') return 'ECONNRESET (the connection was closed by the other side)';
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `${code} (no route to the host)`;
    if (DNS_CODES.has(code)) return `${code} (DNS lookup failed${code === 'EAI_AGAIN' ? ', temporarily' : ''})`;
    if (TIMEOUT_CODES.has(code)) return `${code} (timeout)`;
    if (TLS_CODE.test(code)) return withoutUserinfo(`TLS error ${code}: ${link instanceof Error ? link.message : ''}`).slice(0, 300);
  }
  if (chain.some((link) => link instanceof Error && link.name === 'AbortError')) return 'aborted (the request was cancelled)';
  return null;
}

/** networkCauseOf(err), or else the innermost error's own (credential-free) description. */
export function describeNetworkCause(err: unknown): string {
  return networkCauseOf(err) ?? withoutUserinfo(describeError(chainOf(err).at(-1) ?? err));
}
