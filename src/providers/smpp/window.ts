/**
 * The SMPP window: at most `size` requests outstanding on the bind at once (SMSCs throttle or drop
 * clients that flood them). Further requests wait in arrival order.
 */

/** Thrown to a waiter whose wait was cut short (abort or close). */
export class WindowClosedError extends Error {}

export class RequestWindow {
  readonly #size: number
  #inFlight = 0
  #maxInFlight = 0
  readonly #queue: Array<{ grant: () => void; fail: (err: Error) => void }> = []

  /** @param size slots; at least 1. */
  constructor(size: number) {
    this.#size = Math.max(1, size)
  }

  /** Requests holding a slot now. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** The most slots held at once since creation (for tests and diagnostics). */
  get maxInFlight(): number {
    return this.#maxInFlight
  }

  /**
   * Waits for a slot. Every successful `acquire` must be followed by exactly one `release`.
   * @throws WindowClosedError when `signal` aborts first, or {@link failAll} is called.
   */
  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new WindowClosedError('aborted while waiting for the SMPP window'))
    if (this.#inFlight < this.#size) {
      this.#take()
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        },
        fail: (err: Error) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
      const onAbort = () => {
        const i = this.#queue.indexOf(entry)
        if (i >= 0) this.#queue.splice(i, 1)
        reject(new WindowClosedError('aborted while waiting for the SMPP window'))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(entry)
    })
  }

  /** Frees a slot, handing it straight to the next waiter if there is one. */
  release(): void {
    const next = this.#queue.shift()
    if (next !== undefined) next.grant() // the slot changes hands; the count stays
    else this.#inFlight = Math.max(0, this.#inFlight - 1)
  }

  /** Fails every waiter (provider closing). Slots already held are released by their holders. */
  failAll(err: Error): void {
    for (const entry of this.#queue.splice(0)) entry.fail(err)
  }

  #take(): void {
    this.#inFlight++
    if (this.#inFlight > this.#maxInFlight) this.#maxInFlight = this.#inFlight
  }
}
