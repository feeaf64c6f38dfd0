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
import { invalidOption } from '../errors.js'
import { IdColumn, InternColumn, NIL, SlotList, compactString } from '../stores/slots.js'

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

/** base64url digits: a handle's 43rd character carries 4 key bits and 2 padding bits. */
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** 32-bit words of a handle's 32 bytes. */
const WORDS = 8

/**
 * The handle home: a bounded LRU keyed by an unguessable handle returned to the client. Reading
 * (`peek`, `take`) makes a record the most recently used; `put` stores a fresh copy as the most
 * recently used and restarts its `ttlMs`; a record older than `ttlMs` reads as absent.
 *
 * Compact on purpose (1,000,000 pending records in well under 300 MB): a record is a slot whose
 * fields are columns, keyed by the handle's 256 bits in an Int32Array (plus the 2 spare bits of
 * its last character, so every string matching {@link HANDLE_PATTERN} stays its own key) in an
 * open hash table of slot chains; the Pending object is rebuilt on read.
 */
export function handleHome(options: HandleHomeOptions = {}): PendingHome {
  const max = options.max ?? 10_000
  const ttl = options.ttlMs ?? 600_000
  if (!Number.isSafeInteger(max) || max < 1) throw invalidOption('lru.max', 'a positive integer')
  if (!Number.isSafeInteger(ttl) || ttl < 1) throw invalidOption('lru.ttlMs', 'a positive integer')
  return new HandleTable(max, ttl).home()
}

/** The slots of {@link handleHome}. */
class HandleTable {
  private readonly list: SlotList
  /** The handle's 8 words per slot. */
  private readonly words: Int32Array
  /** The handle's spare bits per slot (see {@link spareBits}). */
  private readonly spare: Uint8Array
  /** Hash chains: bucket → first slot + 1 (0: empty), slot → next slot of its bucket. */
  private readonly buckets: Int32Array
  private readonly hNext: Int32Array
  private readonly mask: number
  private readonly users: string[] = []
  private readonly realms: InternColumn
  private readonly transactionIds: IdColumn
  private readonly maskedPhones: InternColumn
  private readonly expiresAt: Float64Array
  private readonly resendAt: Float64Array
  private readonly attempts: Float64Array
  /** `performance.now()` after which the record is stale. */
  private readonly staleAt: Float64Array

  constructor(max: number, private readonly ttl: number) {
    // Sized to `max` up front (lazily committed, see SlotList); nothing here is filled.
    this.list = new SlotList(max)
    this.words = new Int32Array(max * WORDS)
    this.spare = new Uint8Array(max)
    let size = 1
    while (size < max) size *= 2
    this.buckets = new Int32Array(size)
    this.mask = size - 1
    this.hNext = new Int32Array(max)
    this.realms = new InternColumn(max)
    this.transactionIds = new IdColumn(max, false)
    this.maskedPhones = new InternColumn(max)
    this.expiresAt = new Float64Array(max)
    this.resendAt = new Float64Array(max)
    this.attempts = new Float64Array(max)
    this.staleAt = new Float64Array(max)
  }

  home(): PendingHome {
    return {
      kind: 'handle',
      peek: (c) => {
        const slot = this.get(c.handle)
        return slot === undefined ? undefined : this.read(slot)
      },
      take: (c) => {
        const slot = this.get(c.handle)
        if (slot === undefined) return undefined
        const p = this.read(slot)
        this.remove(slot)
        return p
      },
      put: (_c, pending, reuse) => {
        let handle: string
        let key: Buffer
        if (reuse !== undefined && HANDLE_PATTERN.test(reuse)) {
          handle = reuse
          key = Buffer.from(reuse, 'base64url')
        } else {
          key = randomBytes(32)
          handle = key.toString('base64url')
        }
        this.set(key, spareBits(handle), pending)
        return handle
      },
    }
  }

  /** The live slot of a well-formed handle, made the most recently used; a stale one is dropped. */
  private get(handle: string | undefined): number | undefined {
    if (typeof handle !== 'string' || !HANDLE_PATTERN.test(handle)) return undefined
    const slot = this.lookup(Buffer.from(handle, 'base64url'), spareBits(handle))
    if (slot === undefined) return undefined
    if (performance.now() > (this.staleAt[slot] as number)) {
      this.remove(slot)
      return undefined
    }
    this.list.touch(slot)
    return slot
  }

  private set(key: Buffer, spare: number, p: Pending): void {
    let slot = this.lookup(key, spare)
    if (slot !== undefined) this.list.touch(slot)
    else {
      if (this.list.size >= this.list.max) this.remove(this.list.head)
      slot = this.list.alloc()
      for (let i = 0; i < WORDS; i++) this.words[slot * WORDS + i] = key.readInt32LE(i * 4)
      this.spare[slot] = spare
      const b = this.bucket(slot)
      this.hNext[slot] = (this.buckets[b] as number) - 1
      this.buckets[b] = slot + 1
    }
    this.users[slot] = compactString(p.user)
    this.realms.set(slot, p.realm)
    this.transactionIds.clear(slot)
    this.transactionIds.set(slot, p.transactionId)
    this.maskedPhones.set(slot, p.maskedPhone)
    this.expiresAt[slot] = p.expiresAt
    this.resendAt[slot] = p.resendAt
    this.attempts[slot] = p.attempts
    this.staleAt[slot] = performance.now() + this.ttl
  }

  private read(slot: number): Pending {
    const maskedPhone = this.maskedPhones.get(slot)
    return {
      user: this.users[slot] as string,
      realm: this.realms.get(slot) as string | null,
      transactionId: this.transactionIds.get(slot),
      expiresAt: this.expiresAt[slot] as number,
      resendAt: this.resendAt[slot] as number,
      attempts: this.attempts[slot] as number,
      ...(typeof maskedPhone === 'string' ? { maskedPhone } : {}),
    }
  }

  private lookup(key: Buffer, spare: number): number | undefined {
    const w0 = key.readInt32LE(0)
    for (let s = (this.buckets[w0 & this.mask] as number) - 1; s !== NIL; s = this.hNext[s] as number) {
      if (this.words[s * WORDS] !== w0 || this.spare[s] !== spare) continue
      let i = 1
      while (i < WORDS && this.words[s * WORDS + i] === key.readInt32LE(i * 4)) i++
      if (i === WORDS) return s
    }
    return undefined
  }

  private remove(slot: number): void {
    const b = this.bucket(slot)
    if (this.buckets[b] === slot + 1) this.buckets[b] = (this.hNext[slot] as number) + 1
    else {
      let s = (this.buckets[b] as number) - 1
      while (this.hNext[s] !== slot) s = this.hNext[s] as number
      this.hNext[s] = this.hNext[slot] as number
    }
    this.users[slot] = ''
    this.realms.clear(slot)
    this.transactionIds.clear(slot)
    this.maskedPhones.clear(slot)
    this.list.release(slot)
  }

  /** Handles are random: their first word is a uniform hash. */
  private bucket(slot: number): number {
    return (this.words[slot * WORDS] as number) & this.mask
  }
}

/** The 2 bits of a handle's last character that its 32 bytes do not use. */
function spareBits(handle: string): number {
  return B64URL.indexOf(handle.charAt(42)) & 3
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
