// Limits on the open door POST /v1/register: at most N attempts per client address per hour (in
// memory, the address salted and hashed, never stored), and a budget of accepted registrations per
// hour across the whole collector, counted in the database so every process shares it.
import { ClientThrottle } from '../client-throttle.js';
import type { InstallationRepository } from '../storage/installations.js';

const HOUR_MS = 3_600_000;

export interface RegistrationLimitsOptions {
  installations: InstallationRepository;
  perClientPerHour: number;
  perHour: number;
  now: () => Date;
}

export type RegistrationVerdict = { allowed: true } | { allowed: false; scope: 'client' | 'collector'; retryAfterSeconds: number };

export class RegistrationLimits {
  readonly perClient: ClientThrottle;

  constructor(private readonly options: RegistrationLimitsOptions) {
    this.perClient = new ClientThrottle({ limit: options.perClientPerHour, windowMs: HOUR_MS, now: options.now });
  }

  /** Admits one registration attempt from `address` (counted against its hourly limit) or refuses it. */
  async admit(address: string): Promise<RegistrationVerdict> {
    const client = this.perClient.check(address);
    if (!client.allowed) return { allowed: false, scope: 'client', retryAfterSeconds: client.retryAfterSeconds };
    const now = this.options.now();
    const recent = await this.options.installations.registrationsSince(new Date(now.getTime() - HOUR_MS));
    if (recent.count >= this.options.perHour) {
      const reopensAt = (recent.oldest?.getTime() ?? now.getTime()) + HOUR_MS;
      return { allowed: false, scope: 'collector', retryAfterSeconds: Math.max(1, Math.ceil((reopensAt - now.getTime()) / 1000)) };
    }
    this.perClient.hit(address);
    return { allowed: true };
  }
}
