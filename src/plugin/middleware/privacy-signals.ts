// A browser's privacy signal, honoured per request: Global Privacy Control (`Sec-GPC: 1`) always,
// the older `DNT: 1` only when the host turns on `honorDnt`. A request carrying one is treated as
// an opt-out for everything it triggers: its events, its page view and its support funnel events
// are kept in local statistics only and never leave the installation.
import type { Context } from 'koa';

export function hasPrivacySignal(ctx: Context, honorDnt: boolean): boolean {
  const headers = ctx.req.headers;
  const gpc = headers['sec-gpc'];
  if (typeof gpc === 'string' && gpc.trim() === '1') return true;
  if (!honorDnt) return false;
  const dnt = headers.dnt;
  return typeof dnt === 'string' && dnt.trim() === '1';
}
