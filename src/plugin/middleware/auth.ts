// Guards for the plugin's routes. Deny by default: no user → 401, a user who is not admin → 403.
import type { Context, Next } from 'koa';
import type { TelemetryUser } from '../types.js';
import { HttpError } from '../../core/http-errors.js';

/** A signed-in user still gets the 401 when the plugin runs before the host's user middleware: say so. */
export const MOUNT_ORDER_HINT =
  'Already signed in? Then the telemetry plugin is mounted before the middleware that sets the signed-in user: mount it after that middleware, or pass getUser (docs/faq.md).';

export type GetUser = (ctx: Context) => TelemetryUser | null | undefined;
export type IsAdmin = (ctx: Context) => boolean | Promise<boolean>;

/** The signed-in user, or null; a throwing host callback counts as signed out. */
export function currentUser(ctx: Context, getUser: GetUser): TelemetryUser | null {
  try {
    const user = getUser(ctx);
    return user && (typeof user.id === 'string' || typeof user.id === 'number') ? user : null;
  } catch {
    return null;
  }
}

export function requireUser(getUser: GetUser) {
  return async function telemetryRequireUser(ctx: Context, next: Next): Promise<void> {
    if (!currentUser(ctx, getUser)) throw new HttpError(401, 'unauthorized', `Sign in to use this endpoint. ${MOUNT_ORDER_HINT}`);
    await next();
  };
}

export function requireAdmin(getUser: GetUser, isAdmin: IsAdmin) {
  return async function telemetryRequireAdmin(ctx: Context, next: Next): Promise<void> {
    if (!currentUser(ctx, getUser)) throw new HttpError(401, 'unauthorized', `Sign in as an administrator to use this endpoint. ${MOUNT_ORDER_HINT}`);
    let admin = false;
    try {
      admin = (await isAdmin(ctx)) === true;
    } catch {
      admin = false;
    }
    if (!admin) throw new HttpError(403, 'forbidden', 'Only administrators may use this endpoint.');
    await next();
  };
}
