/**
 * Back-off for refused admin credentials, per client address: after `maxFailures` refusals within
 * `windowMs` the address is blocked for `blockMs`, and every further block of the same address
 * doubles that, up to `maxBlockMs`. A success clears the address. Memory is bounded: at most
 * `maxAddresses` addresses are remembered (least recently seen forgotten first), so a flood of
 * addresses costs a bounded table, at worst forgetting an older block.
 */
import { LRUCache } from 'lru-cache'
import { isIPv6 } from 'node:net'
import { systemClock, type Clock } from '../src/clock.js'
import { invalidOption } from '../src/errors.js'
import { expandIPv6 } from '../src/providers/net/destinations.js'

/** Options of {@link FailureThrottle}. */
export interface ThrottleOptions {
  /** Refusals from one address within `windowMs` that start a block. @default 5 */
  readonly maxFailures?: number
  /** Window in which refusals are counted, in ms. @default 60_000 */
  readonly windowMs?: number
  /** First block, in ms; each further block of the same address doubles it. @default 30_000 */
  readonly blockMs?: number
  /** Longest block, in ms. An address quiet for this long after its block starts afresh. @default 3_600_000 */
  readonly maxBlockMs?: number
  /** Addresses remembered at once. @default 10_000 */
  readonly maxAddresses?: number
  /** @default the system clock (the admin router passes the engine's clock) */
  readonly clock?: Clock
}

/** What {@link FailureThrottle.check} says about an address. */
export type ThrottleState =
  | { readonly blocked: false }
  /** `refused`: requests refused during this block so far, this one included. */
  | { readonly blocked: true; readonly retryAfterMs: number; readonly refused: number }

interface Entry {
  failures: number
  windowStart: number
  blocks: number
  blockedUntil: number
  refused: number
  /** Time of the last failure or the end of the last block, whichever is later. */
  quietFrom: number
}

/**
 * @example
 * const throttle = new FailureThrottle({ maxFailures: 5, clock })
 * if (throttle.check(key).blocked) return answer429()
 * if (ok) throttle.succeed(key); else throttle.fail(key)
 */
export class FailureThrottle {
  readonly #max: number
  readonly #window: number
  readonly #block: number
  readonly #maxBlock: number
  readonly #clock: Clock
  readonly #entries: LRUCache<string, Entry>

  constructor(options: ThrottleOptions = {}) {
    this.#max = positive('maxFailures', options.maxFailures ?? 5)
    this.#window = positive('windowMs', options.windowMs ?? 60_000)
    this.#block = positive('blockMs', options.blockMs ?? 30_000)
    this.#maxBlock = positive('maxBlockMs', options.maxBlockMs ?? 3_600_000)
    if (this.#maxBlock < this.#block) throw invalidOption('maxBlockMs', 'must not be shorter than blockMs')
    this.#entries = new LRUCache({ max: positive('maxAddresses', options.maxAddresses ?? 10_000) })
    this.#clock = options.clock ?? systemClock
  }

  /** Whether `key` is blocked now; a blocked request counts as refused. */
  check(key: string): ThrottleState {
    const now = this.#clock.now()
    const entry = this.#entry(key, now)
    if (entry === undefined || now >= entry.blockedUntil) return { blocked: false }
    entry.refused++
    return { blocked: true, retryAfterMs: entry.blockedUntil - now, refused: entry.refused }
  }

  /** Counts one refused credential. @returns the block length in ms when this refusal started a block. */
  fail(key: string): number | undefined {
    const now = this.#clock.now()
    const entry = this.#entry(key, now) ?? { failures: 0, windowStart: now, blocks: 0, blockedUntil: 0, refused: 0, quietFrom: now }
    if (now - entry.windowStart >= this.#window) {
      entry.failures = 0
      entry.windowStart = now
    }
    entry.failures++
    entry.quietFrom = Math.max(now, entry.blockedUntil)
    let blockedFor: number | undefined
    if (entry.failures >= this.#max) {
      blockedFor = Math.min(this.#maxBlock, this.#block * 2 ** Math.min(entry.blocks, 30))
      entry.blocks++
      entry.blockedUntil = now + blockedFor
      entry.quietFrom = entry.blockedUntil
      entry.failures = 0
      entry.refused = 0
    }
    this.#entries.set(key, entry)
    return blockedFor
  }

  /** A good credential: the address starts afresh. */
  succeed(key: string): void {
    this.#entries.delete(key)
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.#entries.size
  }

  #entry(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry !== undefined && now - entry.quietFrom > this.#maxBlock) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }
}

/**
 * The throttle key of a client address: IPv4 as is, IPv6 by its /64 network (one host usually
 * owns a whole /64, and would otherwise get a fresh budget per address).
 * @example addressKey('2001:db8::1') // '2001:0db8:0000:0000::/64'
 */
export function addressKey(address: string): string {
  if (!isIPv6(address)) return address
  const words = expandIPv6(address.split('%')[0] ?? '')
  if (words === undefined) return address
  return `${words.slice(0, 4).map((w) => w.toString(16).padStart(4, '0')).join(':')}::/64`
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw invalidOption(name, 'expected a positive integer')
  return value
}
