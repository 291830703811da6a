// DO_NOT_TRACK / TELEMETRY_DISABLED silence everything that would leave the process;
// TELEMETRY_DEBUG prints what would be sent instead of sending it.
import { isTruthyEnv } from '../options.js';
import type { KillSwitchReason, KillSwitchState } from '../types.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';

/** Why nothing is sent, in the translator's language (English by default). */
export function killSwitchExplanation(reason: KillSwitchReason, tr: Translator = ENGLISH): string {
  return tr.t(`kill_switch.${reason}`);
}

export const KILL_SWITCH_EXPLANATIONS: Readonly<Record<KillSwitchReason, string>> = Object.freeze({
  DO_NOT_TRACK: killSwitchExplanation('DO_NOT_TRACK'),
  TELEMETRY_DISABLED: killSwitchExplanation('TELEMETRY_DISABLED'),
});

export function readKillSwitch(env: Record<string, string | undefined>, debugOption = false): KillSwitchState {
  const reason: KillSwitchReason | null = isTruthyEnv(env.DO_NOT_TRACK)
    ? 'DO_NOT_TRACK'
    : isTruthyEnv(env.TELEMETRY_DISABLED)
      ? 'TELEMETRY_DISABLED'
      : null;
  return { disabled: reason !== null, reason, debug: debugOption || isTruthyEnv(env.TELEMETRY_DEBUG) };
}
