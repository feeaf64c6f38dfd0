/** Time source, injected so tests can move time without sleeping. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  #now: number
  constructor(start = Date.UTC(2026, 0, 1, 12, 0, 0)) {
    this.#now = start
  }
  now(): number {
    return this.#now
  }
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms
  }
  set(ms: number): void {
    this.#now = ms
  }
}
