// A bounded FIFO that never grows: when it is full, pushing overwrites the OLDEST item and counts
// it in `dropped`. The one queue of every "degrade instead of failing" path (the analytics intake,
// the OTLP log queue, the local statistics buffer): memory stays bounded whatever the host sends
// while a receiver or the database is down, and the newest data is what survives.

export class RingBuffer<T> {
  readonly #slots: (T | undefined)[];
  #head = 0;
  #size = 0;
  #dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`RingBuffer capacity must be a positive integer, got ${capacity}`);
    this.#slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Items overwritten or refused for want of room since construction (never those removed on purpose). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Appends `item`; when full the oldest is overwritten (and counted). True when one was dropped. O(1). */
  push(item: T): boolean {
    if (this.#size === this.capacity) {
      this.#slots[this.#head] = item;
      this.#head = (this.#head + 1) % this.capacity;
      this.#dropped++;
      return true;
    }
    this.#slots[(this.#head + this.#size) % this.capacity] = item;
    this.#size++;
    return false;
  }

  /** Removes and returns the oldest item. O(1). */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#slots[this.#head];
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return item;
  }

  /** Removes and returns up to `n` of the oldest items, oldest first. */
  take(n: number = this.#size): T[] {
    const count = Math.max(0, Math.min(Math.floor(n) || 0, this.#size));
    const out = new Array<T>(count);
    for (let i = 0; i < count; i++) out[i] = this.shift() as T;
    return out;
  }

  /**
   * Puts `items` (oldest first) back in FRONT of everything queued: they were taken earlier, so they
   * are older. What does not fit is dropped from their oldest end and counted. Returns how many.
   */
  putBack(items: readonly T[]): number {
    const room = this.capacity - this.#size;
    const lost = Math.max(0, items.length - room);
    this.#dropped += lost;
    for (let i = items.length - 1; i >= lost; i--) {
      this.#head = (this.#head - 1 + this.capacity) % this.capacity;
      this.#slots[this.#head] = items[i];
      this.#size++;
    }
    return lost;
  }

  /** Removes every item `predicate` matches (order kept, not counted as dropped); returns how many. */
  removeWhere(predicate: (item: T) => boolean): number {
    const before = this.#size;
    const kept = this.take().filter((item) => !predicate(item));
    this.#head = 0;
    for (const item of kept) this.push(item);
    return before - kept.length;
  }

  /** Empties the buffer on purpose (not counted as dropped). */
  clear(): void {
    this.#slots.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }

  /** The queued items, oldest first, without removing them. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#slots[(this.#head + i) % this.capacity] as T;
  }
}
