// Reads a request body as raw bytes with a hard limit, so a signature can be checked over exactly
// the bytes that were sent. Too large → 413 without buffering more than the limit.
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../core/http-errors.js';

const tooLarge = (limit: number) =>
  new HttpError(413, 'payload_too_large', `The request body is larger than ${limit} bytes (${Math.round(limit / 1024)} KiB).`);

/**
 * The raw body. A body parser mounted before the collector would have consumed the stream: its
 * `rawBody` string is used then (and the limit still applies).
 */
export async function readRawBody(req: IncomingMessage, limit: number, parsedRaw?: unknown): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    // Node discards the unread rest of the body after the answer; the client is told to reconnect.
    throw tooLarge(limit);
  }
  if (req.readableEnded || (req as { complete?: boolean }).complete) {
    if (typeof parsedRaw === 'string') {
      const buffer = Buffer.from(parsedRaw, 'utf8');
      if (buffer.length > limit) throw tooLarge(limit);
      return buffer;
    }
    if (req.readableEnded) {
      throw new HttpError(500, 'body_consumed', 'The request body was consumed before the collector: mount collectorPlugin() before any body parser.');
    }
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        // Keep draining (and dropping) the rest so the connection can still carry the 413.
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new HttpError(400, 'bad_request', `The request body could not be read: ${err.message}`));
    };
    const onAborted = () => {
      cleanup();
      reject(new HttpError(400, 'bad_request', 'The request was aborted.'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * JSON.parse of a raw body already read (the bytes stay available for the signature check), or a
 * 400 naming the problem. Not the plugin's jsonBody middleware, which reads the stream itself.
 */
export function parseJsonBytes(raw: Buffer): unknown {
  if (raw.length === 0) throw new HttpError(400, 'bad_request', 'The request body is empty; expected JSON.');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'invalid_json', 'The request body is not valid JSON.');
  }
}
