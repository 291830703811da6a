// DO_NOT_TRACK / TELEMETRY_DISABLED silence everything that would leave the process;
// TELEMETRY_DEBUG prints what would be sent instead of sending it.
import { isTruthyEnv } from '../options.js';
import type { KillSwitchReason, KillSwitchState } from '../types.js';

export const KILL_SWITCH_EXPLANATIONS: Record<KillSwitchReason, string> = {
  DO_NOT_TRACK: 'The DO_NOT_TRACK environment variable is set, so nothing is sent anywhere (base telemetry included).',
  TELEMETRY_DISABLED: 'The TELEMETRY_DISABLED environment variable is set, so nothing is sent anywhere (base telemetry included).',
};

export function readKillSwitch(env: Record<string, string | undefined>, debugOption = false): KillSwitchState {
  const reason: KillSwitchReason | null = isTruthyEnv(env.DO_NOT_TRACK)
    ? 'DO_NOT_TRACK'
    : isTruthyEnv(env.TELEMETRY_DISABLED)
      ? 'TELEMETRY_DISABLED'
      : null;
  return { disabled: reason !== null, reason, debug: debugOption || isTruthyEnv(env.TELEMETRY_DEBUG) };
}
