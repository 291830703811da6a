// Per-user pseudonym for detailed events: hmac_sha256(salt, user_id) truncated to 16 hex characters.
// The raw user id never leaves the process; the salt never leaves installation.json.
import { createHmac } from 'node:crypto';

const CACHE_LIMIT = 1_000;

export class Pseudonymizer {
  readonly #cache = new Map<string, string>();
  constructor(private readonly salt: string) {}

  pseudonym(userId: string | number): string {
    const key = String(userId);
    let value = this.#cache.get(key);
    if (value === undefined) {
      value = createHmac('sha256', this.salt).update(key).digest('hex').slice(0, 16);
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(key, value);
    }
    return value;
  }
}
