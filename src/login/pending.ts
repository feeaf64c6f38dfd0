/**
 * The login faces' one state machine (DESIGN.md "The login faces"), framework-free so the Passport
 * strategy and `requireSecondFactor()` cannot drift:
 *
 *   none ──first factor ok──▶ pending ──OTP ok (engine verify)──▶ verified (pending consumed)
 *   pending ──expired / attempts used up──▶ none      pending ──resend after resendAt──▶ pending'
 *
 * The engine stays the single source of truth (challenge validity, single use, failcounter); a
 * pending record only remembers which challenge this browser is answering. It holds ids and times,
 * never the OTP, and is JSON-safe so any session store can keep it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { invalidOption } from '../errors.js'

/** One browser's open second-factor step. */
export interface Pending {
  readonly user: string
  readonly realm: string | null
  readonly transactionId: string
  /** Epoch ms after which the face refuses an answer (the engine may expire the challenge earlier). */
  readonly expiresAt: number
  /** Epoch ms before which a new SMS is not asked for. */
  readonly resendAt: number
  /** Wrong answers given to this pending record. */
  readonly attempts: number
  /** Where the SMS went, masked, for an OTP page shown again after a reload. */
  readonly maskedPhone?: string
}

/** What a home reads a pending record from: the session, or the handle the client sent back. */
export interface PendingCarrier {
  /** The request's session object (`req.session`), when the session home is used. */
  readonly session?: Record<string, unknown> | undefined
  /** The handle the client returned, when the handle (LRU) home is used. */
  readonly handle?: string | undefined
}

/** Where pending records live: one interface, two homes. */
export interface PendingHome {
  readonly kind: 'session' | 'handle'
  /** Reads without consuming. @throws TypeError `ERR_OTP_INVALID_OPTION` when the session home has no session */
  peek(carrier: PendingCarrier): Pending | undefined
  /** Reads and removes in one step: a record can be taken once. */
  take(carrier: PendingCarrier): Pending | undefined
  /**
   * Stores `pending`. The handle home returns the handle the client must send back: `reuse` keeps
   * a handle this request just took (so a wrong answer does not change it); otherwise a new one.
   */
  put(carrier: PendingCarrier, pending: Pending, reuse?: string): string | undefined
}

/** A handle carries 256 random bits, base64url: 43 characters. */
export const HANDLE_PATTERN = /^[A-Za-z0-9_-]{43}$/

/** The session home: `session[key]`. */
export function sessionHome(key = 'smsOtp'): PendingHome {
  const sessionOf = (c: PendingCarrier): Record<string, unknown> => {
    if (c.session === undefined || c.session === null || typeof c.session !== 'object') {
      throw invalidOption('home', "'session' needs a session middleware (express-session) mounted before passport: req.session is undefined")
    }
    return c.session
  }
  const read = (c: PendingCarrier): Pending | undefined => {
    const value = sessionOf(c)[key]
    return isPending(value) ? value : undefined
  }
  return {
    kind: 'session',
    peek: read,
    take(c) {
      const p = read(c)
      delete sessionOf(c)[key]
      return p
    },
    put(c, pending) {
      sessionOf(c)[key] = { ...pending }
      return undefined
    },
  }
}

/** Options of {@link handleHome}. */
export interface HandleHomeOptions {
  /** Most pending records kept; the least recently used goes first. @default 10000 */
  readonly max?: number
  /** Wall-clock bound of one record, in ms (the face also checks `expiresAt`). @default 600000 */
  readonly ttlMs?: number
}

/** The handle home: a bounded LRU keyed by an unguessable handle returned to the client. */
export function handleHome(options: HandleHomeOptions = {}): PendingHome {
  const max = options.max ?? 10_000
  const ttl = options.ttlMs ?? 600_000
  if (!Number.isSafeInteger(max) || max < 1) throw invalidOption('lru.max', 'a positive integer')
  if (!Number.isSafeInteger(ttl) || ttl < 1) throw invalidOption('lru.ttlMs', 'a positive integer')
  const cache = new LRUCache<string, Pending>({ max, ttl })
  const key = (c: PendingCarrier): string | undefined => (typeof c.handle === 'string' && HANDLE_PATTERN.test(c.handle) ? c.handle : undefined)
  return {
    kind: 'handle',
    peek(c) {
      const k = key(c)
      return k === undefined ? undefined : cache.get(k)
    },
    take(c) {
      const k = key(c)
      if (k === undefined) return undefined
      const p = cache.get(k)
      cache.delete(k)
      return p
    },
    put(_c, pending, reuse) {
      const handle = reuse !== undefined && HANDLE_PATTERN.test(reuse) ? reuse : randomBytes(32).toString('base64url')
      cache.set(handle, { ...pending })
      return handle
    },
  }
}

/**
 * The pending record after a trigger. A trigger that answers with the challenge this browser is
 * already answering (inside the blocking time) keeps its attempts and resend time: asking again
 * must not buy fresh guesses.
 */
export function begin(prev: Pending | undefined, next: { user: string; realm: string | null; transactionId: string; now: number; ttlMs: number; resendMs: number; maskedPhone?: string | undefined }): Pending {
  const same = prev !== undefined && prev.user === next.user && prev.realm === next.realm && prev.transactionId === next.transactionId && prev.expiresAt > next.now
  return {
    user: next.user,
    realm: next.realm,
    transactionId: next.transactionId,
    expiresAt: same ? prev.expiresAt : next.now + next.ttlMs,
    resendAt: same ? prev.resendAt : next.now + next.resendMs,
    attempts: same ? prev.attempts : 0,
    ...(next.maskedPhone === undefined ? {} : { maskedPhone: next.maskedPhone }),
  }
}

/** Why an answer to `pending` is refused before the engine is asked, or `ok`. */
export function judge(pending: Pending, now: number, transactionId: string | undefined, maxAttempts: number): 'ok' | 'expired' | 'exhausted' | 'mismatch' {
  if (now >= pending.expiresAt) return 'expired'
  if (pending.attempts >= maxAttempts) return 'exhausted'
  if (transactionId !== undefined && !sameId(transactionId, pending.transactionId)) return 'mismatch'
  return 'ok'
}

/** The record after a wrong answer, or undefined when no attempt is left (back to none). */
export function afterWrong(pending: Pending, maxAttempts: number): Pending | undefined {
  const attempts = pending.attempts + 1
  return attempts >= maxAttempts ? undefined : { ...pending, attempts }
}

/** Whole seconds until a new SMS may be asked for (0 when it may now). */
export function secondsUntilResend(pending: Pending, now: number): number {
  return Math.max(0, Math.ceil((pending.resendAt - now) / 1000))
}

function sameId(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function isPending(v: unknown): v is Pending {
  if (typeof v !== 'object' || v === null) return false
  const p = v as Record<string, unknown>
  return typeof p.user === 'string' && (typeof p.realm === 'string' || p.realm === null) && typeof p.transactionId === 'string'
    && typeof p.expiresAt === 'number' && typeof p.resendAt === 'number' && typeof p.attempts === 'number'
    && (p.maskedPhone === undefined || typeof p.maskedPhone === 'string')
}

/**
 * The login of a first factor's user object: a string, or the `username` of an object (what
 * passport-local and most apps put into `req.user`). Undefined when there is none.
 */
export function loginOf(reqUser: unknown): string | undefined {
  if (typeof reqUser === 'string') return reqUser
  if (typeof reqUser === 'object' && reqUser !== null && typeof (reqUser as { username?: unknown }).username === 'string') return (reqUser as { username: string }).username
  return undefined
}
