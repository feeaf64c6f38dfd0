/**
 * Ordered failover over a policy's provider list with LinOTP's back-off: a provider that is
 * unavailable is skipped for 30 s, doubling on each consecutive failure, capped at 2 h; its first
 * success clears the block. The first provider that answers (sent or rejected) ends the loop.
 */
import type { Clock } from '../clock.js'
import { isOtpError } from '../errors.js'
import { withDeadline } from './deadline.js'
import { sendVia, type LoadedProvider } from './loader.js'
import type { SendResult, SmsMessage } from './types.js'

/** Outcome of a send over a candidate list. */
export type DispatchResult =
  | { readonly status: 'sent'; readonly provider: string }
  | { readonly status: 'rejected'; readonly provider: string; readonly reason: string }
  | { readonly status: 'unavailable'; readonly reason: string }

export interface BackoffOptions {
  /** First block after a failure. @default 30_000 */
  readonly initialMs?: number
  /** Longest block. @default 7_200_000 (2 h) */
  readonly maxMs?: number
  /**
   * Hard deadline of one provider operation: a send here, and `/system/testProvider`. It answers
   * even when the provider ignores its AbortSignal (the send counts as unavailable; the test
   * fails with `ERR_OTP_TIMEOUT`). @default 60_000
   */
  readonly attemptMs?: number
}

/** How one send attempt through one provider ended, as metrics see it. */
export type AttemptResult = 'sent' | 'rejected' | 'unavailable' | 'timeout'

/**
 * Instrumentation hooks of {@link Failover} (the metrics module implements them). Called
 * synchronously; they must not throw. Never given a phone number, a text or a transaction id.
 */
export interface FailoverObserver {
  /** One attempt through `provider` ended after `seconds`. `timeout`: the provider deadline passed. */
  attempt(provider: string, result: AttemptResult, seconds: number): void
  /** The send moved on from `from` (unavailable, or backing off) and is now tried through `to`. */
  failover(from: string, to: string): void
}

export class Failover {
  readonly #blocked = new Map<string, { until: number; failures: number }>()
  readonly #clock: Clock
  readonly #initialMs: number
  readonly #maxMs: number
  readonly #attemptMs: number
  readonly #observer: FailoverObserver | undefined

  constructor(clock: Clock, options: BackoffOptions = {}, observer?: FailoverObserver) {
    this.#observer = observer
    this.#clock = clock
    this.#initialMs = options.initialMs ?? 30_000
    this.#maxMs = options.maxMs ?? 7_200_000
    this.#attemptMs = options.attemptMs ?? 60_000
  }

  /** The deadline of one provider operation, in ms (see {@link BackoffOptions.attemptMs}). */
  get attemptMs(): number {
    return this.#attemptMs
  }

  /** Is `name` inside a back-off period now? */
  isBlocked(name: string): boolean {
    const entry = this.#blocked.get(name)
    return entry !== undefined && entry.until > this.#clock.now()
  }

  /** Names of the providers inside a back-off period now (the `sms_otp_provider_backoff` gauge). */
  blockedProviders(): string[] {
    const now = this.#clock.now()
    return [...this.#blocked].filter(([, entry]) => entry.until > now).map(([name]) => name)
  }

  /** Clears all back-off state (admin `testProvider` success, or tests). */
  clear(name?: string): void {
    if (name === undefined) this.#blocked.clear()
    else this.#blocked.delete(name)
  }

  /** Tries each candidate in order; see the module comment for the rules. */
  async send(candidates: readonly LoadedProvider[], msg: SmsMessage, signal?: AbortSignal): Promise<DispatchResult> {
    const tried: string[] = []
    const observer = this.#observer
    // The candidate passed over last (unavailable or backing off): the next attempt is a failover from it.
    let passedOver: string | undefined
    for (const provider of candidates) {
      if (this.isBlocked(provider.name)) {
        tried.push(`${provider.name} (backing off)`)
        passedOver = provider.name
        continue
      }
      if (passedOver !== undefined) observer?.failover(passedOver, provider.name)
      const started = performance.now()
      let timedOut = false
      const result = await withDeadline(this.#attemptMs, (attempt) => sendVia(provider, msg, attempt), 'the send', signal).catch((err: unknown): SendResult => {
        timedOut = isOtpError(err, 'ERR_OTP_TIMEOUT')
        return { status: 'unavailable', reason: err instanceof Error ? err.message : String(err) }
      })
      observer?.attempt(provider.name, timedOut ? 'timeout' : result.status, (performance.now() - started) / 1000)
      passedOver = provider.name
      if (result.status === 'sent') {
        this.#blocked.delete(provider.name)
        return { status: 'sent', provider: provider.name }
      }
      if (result.status === 'rejected') return { status: 'rejected', provider: provider.name, reason: result.reason }
      this.#block(provider.name)
      tried.push(`${provider.name} (${result.reason})`)
      if (signal?.aborted) break
    }
    const names = candidates.map((c) => c.name).join(', ')
    return { status: 'unavailable', reason: `unable to connect to any SMSProvider [${names}]: ${tried.join('; ')}` }
  }

  #block(name: string): void {
    const now = this.#clock.now()
    const current = this.#blocked.get(name)
    // Sends that were already under way when the outage began fail together: they are one
    // outage, not consecutive ones. Only a failure after the block expired doubles it.
    if (current !== undefined && current.until > now) return
    const failures = (current?.failures ?? 0) + 1
    const ms = Math.min(this.#initialMs * 2 ** (failures - 1), this.#maxMs)
    this.#blocked.set(name, { until: now + ms, failures })
  }
}
