/**
 * A counting semaphore sized to the SMTP pool: a send holds a slot while nodemailer works on
 * its message, so the send's deadline can start when a pooled connection is free for it rather
 * than when the caller asked (nodemailer's own queue has no notion of per-message deadlines).
 * Waiters are served in arrival order; a wait ends only when a slot frees up or the signal aborts.
 */

export class SendSlots {
  #free: number
  /** Grant callbacks of the waiting sends, in arrival order (a Set keeps insertion order). */
  readonly #waiting = new Set<() => void>()

  /** @param size slots; at least 1. */
  constructor(size: number) {
    this.#free = Math.max(1, size)
  }

  /** Sends waiting for a slot now (diagnostics and tests). */
  get waiting(): number {
    return this.#waiting.size
  }

  /**
   * Waits for a slot. Resolves true when one is held (release it with {@link release} exactly
   * once), false when `signal` aborted first (then nothing is held).
   */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false)
    if (this.#free > 0 && this.#waiting.size === 0) {
      this.#free--
      return Promise.resolve(true)
    }
    return new Promise<boolean>((resolve) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort)
        resolve(true)
      }
      const onAbort = () => {
        this.#waiting.delete(grant)
        resolve(false)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.add(grant)
    })
  }

  /** Frees a slot, handing it straight to the longest-waiting send if there is one. */
  release(): void {
    const next = this.#waiting.values().next()
    if (next.done === true) {
      this.#free++
      return
    }
    this.#waiting.delete(next.value)
    next.value() // the slot changes hands; the free count stays
  }
}
