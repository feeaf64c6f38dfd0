/**
 * In-process store: the library default. Bounded on both sides (challenges in a compact table
 * with a bound and a TTL, tokens refused beyond `maxTokens`), so a flood of triggers or enrolments
 * cannot exhaust memory.
 *
 * Atomicity: every method does its read-check-write synchronously, with no `await` in between,
 * so on one event loop `casCounter` and `consume` have exactly one winner. Records are copied in
 * and out field by field, so callers never share an object with the store.
 */
import { OtpError, invalidOption } from '../errors.js'
import { IdColumn, InternColumn, NIL, SlotList, compactString } from './slots.js'
import type { ChallengeRecord, SettingsKind, Store, TokenPatch, TokenQuery, TokenRecord } from './types.js'

const SETTINGS_KINDS: ReadonlySet<string> = new Set<SettingsKind>(['config', 'provider', 'policy', 'realm', 'resolver'])
const PATCH_FIELDS = ['phone', 'pinHash', 'maxfail', 'active', 'description', 'user', 'realm', 'countWindow'] as const

export interface MemoryStoreOptions {
  /** Most open challenges kept; beyond it the oldest are dropped. @default 100_000 */
  readonly maxChallenges?: number
  /** Most tokens kept; `create` beyond it rejects with `ERR_OTP_STORE`. @default 100_000 */
  readonly maxTokens?: number
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1) throw invalidOption(name, 'must be a positive integer')
  return value
}

/** Validates a `limit` argument (a non-negative integer) and returns it. */
export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw invalidOption('limit', 'must be a non-negative integer')
  return limit
}

/** Validates a settings kind; a typo must not create another, invisible namespace. */
export function assertSettingsKind(kind: unknown): asserts kind is SettingsKind {
  if (typeof kind !== 'string' || !SETTINGS_KINDS.has(kind)) throw invalidOption('kind', `unknown settings kind ${JSON.stringify(kind)}`)
}

function copyToken(t: TokenRecord): TokenRecord {
  return {
    serial: t.serial, type: t.type, user: t.user, realm: t.realm, phone: t.phone, pinHash: t.pinHash,
    seed: t.seed, hashlib: t.hashlib, otplen: t.otplen, counter: t.counter, failcount: t.failcount,
    maxfail: t.maxfail, countWindow: t.countWindow, active: t.active, description: t.description, createdAt: t.createdAt,
  }
}

/** `X` for `X` and `X.NN`: the key under which `findOpen(X)` finds both. */
const baseId = (id: string): string => (id.includes('.') ? id.slice(0, id.indexOf('.')) : id)
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const newestFirst = (a: ChallengeRecord, b: ChallengeRecord): number => b.createdAt - a.createdAt || byString(b.transactionId, a.transactionId)

/**
 * The open challenges, bounded by `max` (the oldest inserted goes first; reads never refresh
 * recency) and by each record's own validity on the wall clock (`expiresAt - createdAt` from
 * insertion, like an LRU TTL: a stale record reads as absent and is dropped by `purgeExpired`).
 *
 * Compact on purpose (1,000,000 challenges in well under 300 MB): one slot per record, fields in
 * columns, ids packed as numbers and indexed by a hash over slots, a token's challenges are a chain
 * through two slot columns, and only sub ids (`X.NN`) get an entry in the widening index.
 */
class ChallengeTable {
  /** serial → newest slot of that token's chain (`sNext`/`sPrev`). */
  private readonly serialHead = new Map<string, number>()
  /** base id `X` → its sub ids `X.NN`; plain ids are found through `ids` directly. */
  private readonly subs = new Map<string, Set<string>>()
  /** Transaction ids, indexed: id → slot. */
  private readonly ids: IdColumn
  private readonly serials: Array<string | undefined> = []
  private readonly providers: InternColumn
  private readonly counter: Float64Array
  private readonly createdAt: Float64Array
  private readonly expiresAt: Float64Array
  /** `performance.now()` after which the record is stale (its validity from insertion). */
  private readonly staleAt: Float64Array
  /** A token's chain, newest first; both written when a slot is taken. */
  private readonly sNext: Int32Array
  private readonly sPrev: Int32Array
  private readonly list: SlotList

  constructor(max: number) {
    this.list = new SlotList(max)
    this.ids = new IdColumn(max, true)
    this.providers = new InternColumn(max)
    this.counter = new Float64Array(max)
    this.createdAt = new Float64Array(max)
    this.expiresAt = new Float64Array(max)
    this.staleAt = new Float64Array(max)
    this.sNext = new Int32Array(max)
    this.sPrev = new Int32Array(max)
  }

  /**
   * Inserts a copy of `c`, dropping the oldest record when full. A stale record with the same id
   * is replaced. @throws OtpError `ERR_OTP_STORE` when a live record has that id
   */
  create(c: ChallengeRecord): void {
    const old = this.ids.find(c.transactionId)
    if (old !== undefined) {
      if (!this.stale(old)) throw new OtpError('ERR_OTP_STORE', 'a challenge with that transaction id exists already')
      this.remove(old)
    }
    if (this.list.size >= this.list.max) this.remove(this.list.head)
    const slot = this.list.alloc()
    const id = c.transactionId
    this.ids.set(slot, id)
    const head = this.serialHead.get(c.serial)
    this.serials[slot] = head === undefined ? compactString(c.serial) : this.serials[head]
    this.sPrev[slot] = NIL
    this.sNext[slot] = head ?? NIL
    if (head !== undefined) this.sPrev[head] = slot
    this.serialHead.set(this.serials[slot] as string, slot)
    this.providers.set(slot, c.provider)
    this.counter[slot] = c.counter
    this.createdAt[slot] = c.createdAt
    this.expiresAt[slot] = c.expiresAt
    // TTL from the record's own validity, not from Date.now(): callers inject their clock.
    this.staleAt[slot] = performance.now() + Math.max(1, c.expiresAt - c.createdAt)
    if (id.includes('.')) {
      const base = baseId(id)
      const set = this.subs.get(base)
      if (set) set.add(compactString(id))
      else this.subs.set(base, new Set([compactString(id)]))
    }
  }

  /** The slot of a live (not stale) record, or undefined. */
  find(id: string): number | undefined {
    const slot = this.ids.find(id)
    return slot === undefined || this.stale(slot) ? undefined : slot
  }

  /** Removes the record with that id, stale or not; false when there is none. */
  delete(id: string): boolean {
    const slot = this.ids.find(id)
    if (slot === undefined) return false
    this.remove(slot)
    return true
  }

  /** A copy of the record in `slot`. */
  read(slot: number): ChallengeRecord {
    return {
      transactionId: this.ids.get(slot), serial: this.serials[slot] as string, counter: this.counter[slot] as number,
      createdAt: this.createdAt[slot] as number, expiresAt: this.expiresAt[slot] as number, provider: this.providers.get(slot) as string,
    }
  }

  /** Slots of a token's records, stale ones included. */
  slotsOf(serial: string): number[] {
    const out: number[] = []
    for (let s = this.serialHead.get(serial) ?? NIL; s !== NIL; s = this.sNext[s] ?? NIL) out.push(s)
    return out
  }

  /** Slots of `id` and, for a base id, of its sub ids; stale ones included. */
  slotsFor(id: string): number[] {
    const out: number[] = []
    const own = this.ids.find(id)
    if (own !== undefined) out.push(own)
    if (!id.includes('.')) for (const sub of this.subs.get(id) ?? []) out.push(this.ids.find(sub) as number)
    return out
  }

  /** Copies of the records in `slots` that are open at `now` (and not stale). */
  live(slots: number[], now: number): ChallengeRecord[] {
    const out: ChallengeRecord[] = []
    for (const s of slots) if ((this.expiresAt[s] as number) >= now && !this.stale(s)) out.push(this.read(s))
    return out
  }

  /** Whether the record in `slot` is not stale (it may still be past `expiresAt`). */
  isLive(slot: number): boolean {
    return !this.stale(slot)
  }

  /** The HOTP counter of the record in `slot`. */
  counterOf(slot: number): number {
    return this.counter[slot] as number
  }

  /** The transaction id of the record in `slot`. */
  idOf(slot: number): string {
    return this.ids.get(slot)
  }

  /** Removes records expired at `now` or stale; returns how many. */
  purge(now: number): number {
    let count = 0
    for (let s = this.list.head; s !== NIL;) {
      const next = this.list.after(s)
      if ((this.expiresAt[s] as number) < now || this.stale(s)) {
        this.remove(s)
        count++
      }
      s = next
    }
    return count
  }

  /** Counts records open at `now` and not stale. */
  countOpen(now: number): number {
    let count = 0
    for (let s = this.list.head; s !== NIL; s = this.list.after(s)) if ((this.expiresAt[s] as number) >= now && !this.stale(s)) count++
    return count
  }

  private stale(slot: number): boolean {
    return performance.now() > (this.staleAt[slot] as number)
  }

  private remove(slot: number): void {
    const id = this.ids.get(slot)
    const serial = this.serials[slot] as string
    this.ids.clear(slot)
    const p = this.sPrev[slot] as number
    const n = this.sNext[slot] as number
    if (p === NIL) {
      if (n === NIL) this.serialHead.delete(serial)
      else this.serialHead.set(serial, n)
    } else this.sNext[p] = n
    if (n !== NIL) this.sPrev[n] = p
    if (id.includes('.')) {
      const base = baseId(id)
      const set = this.subs.get(base)
      if (set?.delete(id) && set.size === 0) this.subs.delete(base)
    }
    this.serials[slot] = undefined
    this.providers.clear(slot)
    this.list.release(slot)
  }
}

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const maxChallenges = positiveInt('maxChallenges', options.maxChallenges, 100_000)
  const maxTokens = positiveInt('maxTokens', options.maxTokens, 100_000)
  const tokens = new Map<string, TokenRecord>()
  const settings = new Map<SettingsKind, Map<string, string>>()
  const challenges = new ChallengeTable(maxChallenges)
  const kindMap = (kind: SettingsKind): Map<string, string> => {
    let map = settings.get(kind)
    if (!map) settings.set(kind, (map = new Map()))
    return map
  }

  const createChallenge = async (challenge: ChallengeRecord): Promise<void> => {
    challenges.create(challenge)
  }
  const removeUpTo = (serial: string, counter: number): void => {
    for (const slot of challenges.slotsOf(serial)) {
      // A stale record reads as absent, so it is left to purgeExpired (as before).
      if (challenges.isLive(slot) && challenges.counterOf(slot) <= counter) challenges.delete(challenges.idOf(slot))
    }
  }

  return {
    async open() {},
    async close() {},
    tokens: {
      async create(token) {
        if (tokens.has(token.serial)) throw new OtpError('ERR_OTP_TOKEN_EXISTS', 'a token with that serial exists already')
        if (tokens.size >= maxTokens) throw new OtpError('ERR_OTP_STORE', 'memory store is full', { status: 503 })
        tokens.set(token.serial, copyToken(token))
      },
      async get(serial) {
        const t = tokens.get(serial)
        return t && copyToken(t)
      },
      async list(query: TokenQuery = {}, limit = 1000) {
        checkLimit(limit)
        const out: TokenRecord[] = []
        for (const t of tokens.values()) {
          if (query.serial !== undefined && t.serial !== query.serial) continue
          if (query.user !== undefined && t.user !== query.user) continue
          if (query.realm !== undefined && t.realm !== query.realm) continue
          out.push(t)
        }
        return out.sort((a, b) => byString(a.serial, b.serial)).slice(0, limit).map(copyToken)
      },
      async update(serial, patch: TokenPatch) {
        const t = tokens.get(serial)
        if (!t) return false
        // Field by field: a stray `counter` in an untyped patch must not bypass casCounter.
        const next: Record<string, unknown> = { ...t }
        for (const f of PATCH_FIELDS) if (patch[f] !== undefined) next[f] = patch[f]
        tokens.set(serial, next as unknown as TokenRecord) // built from a full TokenRecord and typed fields
        return true
      },
      async casCounter(serial, expected, next) {
        const t = tokens.get(serial)
        if (!t || t.counter !== expected) return false
        tokens.set(serial, { ...t, counter: next })
        return true
      },
      async incrementFailcount(serial) {
        const t = tokens.get(serial)
        if (!t) return undefined
        tokens.set(serial, { ...t, failcount: t.failcount + 1 })
        return t.failcount + 1
      },
      async reserveAttempt(serial) {
        const t = tokens.get(serial)
        if (!t || t.failcount >= t.maxfail) return undefined
        tokens.set(serial, { ...t, failcount: t.failcount + 1 })
        return t.failcount + 1
      },
      async releaseAttempt(serial) {
        const t = tokens.get(serial)
        if (t && t.failcount > 0) tokens.set(serial, { ...t, failcount: t.failcount - 1 })
      },
      async resetFailcount(serials) {
        for (const serial of serials) {
          const t = tokens.get(serial)
          if (t) tokens.set(serial, { ...t, failcount: 0 })
        }
      },
      async remove(serial) {
        return tokens.delete(serial)
      },
      async replaceSeed(serial, expected, next) {
        const t = tokens.get(serial)
        if (!t || t.seed !== expected) return false
        tokens.set(serial, { ...t, seed: next })
        return true
      },
    },
    challenges: {
      create: createChallenge,
      async listOpen(serial, now, limit) {
        const open = challenges.live(challenges.slotsOf(serial), now).sort(newestFirst)
        return limit === undefined ? open : open.slice(0, checkLimit(limit))
      },
      async findOpen(transactionId, now) {
        return challenges.live(challenges.slotsFor(transactionId), now).sort((a, b) => byString(a.transactionId, b.transactionId))
      },
      async consume(transactionId) {
        return challenges.delete(transactionId)
      },
      async settle(transactionId, patch) {
        const slot = challenges.find(transactionId)
        if (slot === undefined) return false
        // Delete and re-insert with no await in between: atomic on this event loop.
        const c = challenges.read(slot)
        challenges.delete(transactionId)
        challenges.create({ ...c, provider: patch.provider, expiresAt: patch.expiresAt })
        return true
      },
      async issue(c, expectedCounter, options = {}) {
        const t = tokens.get(c.serial)
        if (!t || t.counter !== expectedCounter) return false
        challenges.create(c) // throws on a taken id before anything changed
        const failcount = options.releaseAttempt === true && t.failcount > 0 ? t.failcount - 1 : t.failcount
        tokens.set(c.serial, { ...t, counter: c.counter, failcount })
        return true
      },
      async accept(serial, expectedCounter, acceptedCounter) {
        const t = tokens.get(serial)
        if (!t || t.counter !== expectedCounter) return false
        tokens.set(serial, { ...t, counter: acceptedCounter + 1 })
        removeUpTo(serial, acceptedCounter)
        return true
      },
      async removeUpTo(serial, counter) {
        removeUpTo(serial, counter)
      },
      async removeForToken(serial) {
        for (const slot of challenges.slotsOf(serial)) challenges.delete(challenges.idOf(slot))
      },
      async purgeExpired(now) {
        return challenges.purge(now)
      },
      async countOpen(now) {
        return challenges.countOpen(now)
      },
    },
    settings: {
      async list(kind) {
        assertSettingsKind(kind)
        return new Map([...(settings.get(kind) ?? [])].sort(([a], [b]) => byString(a, b)))
      },
      async get(kind, name) {
        assertSettingsKind(kind)
        return settings.get(kind)?.get(name)
      },
      async put(kind, name, value) {
        assertSettingsKind(kind)
        kindMap(kind).set(name, value)
      },
      async putIfAbsent(kind, name, value) {
        assertSettingsKind(kind)
        const map = kindMap(kind) // check and set with no await between: one winner
        if (map.has(name)) return false
        map.set(name, value)
        return true
      },
      async delete(kind, name) {
        assertSettingsKind(kind)
        return settings.get(kind)?.delete(name) ?? false
      },
      async batch(ops) {
        // Validate everything first: there is no rollback, so nothing may fail half-way.
        for (const op of ops) assertSettingsOp(op)
        for (const { kind, name, value } of ops) {
          if (value === null) settings.get(kind)?.delete(name)
          else kindMap(kind).set(name, value)
        }
      },
    },
  }
}

/** Checks one batch operation (kind, string name, string-or-null value). */
export function assertSettingsOp(op: { kind: unknown; name: unknown; value: unknown }): void {
  assertSettingsKind(op.kind)
  if (typeof op.name !== 'string') throw invalidOption('name', 'must be a string')
  if (op.value !== null && typeof op.value !== 'string') throw invalidOption('value', 'must be a string or null')
}
