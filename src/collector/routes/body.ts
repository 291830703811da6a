// Small bodies of the admin routes (sign-in form, report requests), read with our raw reader.
import type { Context } from 'koa';
import { readRawBody, parseJsonBytes } from '../ingest/raw-body.js';

const SMALL_BODY_BYTES = 16 * 1024;

export async function readForm(ctx: Context): Promise<URLSearchParams> {
  const raw = await readRawBody(ctx.req, SMALL_BODY_BYTES, (ctx.request as { rawBody?: unknown }).rawBody);
  if (ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams(raw.toString('utf8'));
  if (ctx.is('application/json') && raw.length > 0) {
    const json = parseJsonBytes(raw);
    const params = new URLSearchParams();
    if (json && typeof json === 'object') for (const [k, v] of Object.entries(json)) if (typeof v === 'string') params.set(k, v);
    return params;
  }
  return new URLSearchParams();
}

/** An optional JSON object body ({} when empty). */
export async function readOptionalJson(ctx: Context): Promise<unknown> {
  const raw = await readRawBody(ctx.req, SMALL_BODY_BYTES, (ctx.request as { rawBody?: unknown }).rawBody);
  if (raw.length === 0) return {};
  return parseJsonBytes(raw);
}
