// Guards for the plugin's routes. Deny by default: no user → 401, a user who is not admin → 403.
import type { Context, Next } from 'koa';
import type { TelemetryUser } from '../types.js';
import { localizedError } from '../i18n/errors.js';
import { ENGLISH } from '../i18n/catalog.js';

/** A signed-in user still gets the 401 when the plugin runs before the host's user middleware: say so. */
export const MOUNT_ORDER_HINT = ENGLISH.t('error.api.mount_order_hint');

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
    if (!currentUser(ctx, getUser)) throw localizedError(401, 'unauthorized', 'error.api.sign_in');
    await next();
  };
}

export function requireAdmin(getUser: GetUser, isAdmin: IsAdmin) {
  return async function telemetryRequireAdmin(ctx: Context, next: Next): Promise<void> {
    if (!currentUser(ctx, getUser)) throw localizedError(401, 'unauthorized', 'error.api.sign_in_admin');
    let admin = false;
    try {
      admin = (await isAdmin(ctx)) === true;
    } catch {
      admin = false;
    }
    if (!admin) throw localizedError(403, 'forbidden', 'error.api.admin_only');
    await next();
  };
}
