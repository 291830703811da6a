// Types shared across the package, declared in one place (the public ones are re-exported by index.ts).
import type { Context } from 'koa';

export type { Logger, LogFn } from '../core/logging.js';

/** A property value a telemetry event may carry: flat scalars only. */
export type EventValue = string | number | boolean;
export type EventProps = Record<string, EventValue>;

/** The two things an admin can consent to, independently. */
export type ConsentCategory = 'analytics' | 'usageStats';
export const CONSENT_CATEGORIES: readonly ConsentCategory[] = ['analytics', 'usageStats'];

export interface ConsentState {
  analytics: boolean;
  usageStats: boolean;
  /** Version of the privacy notice the stored choice was made under. */
  version: number;
  updated_at: string | null;
}

export type KillSwitchReason = 'DO_NOT_TRACK' | 'TELEMETRY_DISABLED';

export interface KillSwitchState {
  /** True when nothing at all may leave the process (base layer included). */
  disabled: boolean;
  reason: KillSwitchReason | null;
  /** TELEMETRY_DEBUG=1: payloads are printed, never sent. */
  debug: boolean;
}

/** What `getUser(ctx)` returns for a signed-in user. */
export interface TelemetryUser {
  id: string | number;
  createdAt?: Date | string | number | null;
}

export interface TrackOptions {
  user?: TelemetryUser | null;
}

/** The per-request API a route sees as `ctx.telemetry`. */
export interface RequestTelemetry {
  track(event: string, props?: Record<string, unknown>): boolean;
  identify(traits?: Record<string, unknown>): boolean;
  /** Support prompts (docs/support.md). */
  support: {
    /** Counts a generated report for the signed-in user and queues the after_report soft prompt; resolves the new count (null when signed out, support is off or it failed). Never rejects. */
    reportGenerated(): Promise<number | null>;
  };
}

export type DeploymentType = 'docker' | 'native';

/** Counters the privacy guard keeps so the admin can see what it removed. */
export interface GuardCounters {
  rejectedEvents: number;
  droppedKeys: number;
  redactedValues: number;
  /** Dropped keys and redacted values per reason (the reasons are GUARD_REASONS in src/telemetry/privacy-guard.ts). */
  byReason: Record<string, number>;
}

/** Counters and state of the OTLP export pipeline. */
export interface SinkStats {
  configured: boolean;
  endpoint: string | null;
  debug: boolean;
  queueDepth: number;
  queueCap: number;
  dropped: number;
  exported: number;
  failedExports: number;
  lastError: string | null;
  lastExportAt: string | null;
}

export type Middleware = (ctx: Context, next: () => Promise<unknown>) => Promise<unknown>;
