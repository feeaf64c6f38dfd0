/**
 * In-process store: the library default. Bounded on both sides (challenges in an LRU with a TTL,
 * tokens refused beyond `maxTokens`), so a flood of triggers or enrolments cannot exhaust memory.
 *
 * Atomicity: every method does its read-check-write synchronously, with no `await` in between,
 * so on one event loop `casCounter` and `consume` have exactly one winner. Records are copied in
 * and out field by field, so callers never share an object with the store.
 */
import { LRUCache } from 'lru-cache'
import { OtpError, invalidOption } from '../errors.js'
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

function copyChallenge(c: ChallengeRecord): ChallengeRecord {
  return { transactionId: c.transactionId, serial: c.serial, counter: c.counter, createdAt: c.createdAt, expiresAt: c.expiresAt, provider: c.provider }
}

/** `X` for `X` and `X.NN`: the key under which `findOpen(X)` finds both. */
const baseId = (id: string): string => (id.includes('.') ? id.slice(0, id.indexOf('.')) : id)
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const newestFirst = (a: ChallengeRecord, b: ChallengeRecord): number => b.createdAt - a.createdAt || byString(b.transactionId, a.transactionId)

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key)
  if (set) set.add(id)
  else index.set(key, new Set([id]))
}
function removeFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key)
  if (set?.delete(id) && set.size === 0) index.delete(key)
}

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const maxChallenges = positiveInt('maxChallenges', options.maxChallenges, 100_000)
  const maxTokens = positiveInt('maxTokens', options.maxTokens, 100_000)
  const tokens = new Map<string, TokenRecord>()
  const settings = new Map<SettingsKind, Map<string, string>>()
  // Secondary indexes over the cache, kept exact by `dispose` (evict, expire, delete all pass there).
  const bySerial = new Map<string, Set<string>>()
  const byBase = new Map<string, Set<string>>()
  let expiredByLru = 0
  const challenges = new LRUCache<string, ChallengeRecord>({
    max: maxChallenges,
    dispose: (c, id, reason) => {
      removeFrom(bySerial, c.serial, id)
      removeFrom(byBase, baseId(id), id)
      if (reason === 'expire') expiredByLru++
    },
  })
  // `peek` so that reading never refreshes recency: eviction stays oldest-first.
  const live = (ids: Set<string> | undefined, now: number): ChallengeRecord[] => {
    const out: ChallengeRecord[] = []
    for (const id of ids ?? []) {
      const c = challenges.peek(id)
      if (c !== undefined && c.expiresAt >= now) out.push(copyChallenge(c))
    }
    return out
  }
  const kindMap = (kind: SettingsKind): Map<string, string> => {
    let map = settings.get(kind)
    if (!map) settings.set(kind, (map = new Map()))
    return map
  }

  const createChallenge = async (challenge: ChallengeRecord): Promise<void> => {
    const id = challenge.transactionId
    if (challenges.has(id)) throw new OtpError('ERR_OTP_STORE', 'a challenge with that transaction id exists already')
    // TTL from the record's own validity, not from Date.now(): callers inject their clock.
    challenges.set(id, copyChallenge(challenge), { ttl: Math.max(1, challenge.expiresAt - challenge.createdAt) })
    addTo(bySerial, challenge.serial, id)
    addTo(byBase, baseId(id), id)
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
        if (!Number.isSafeInteger(limit) || limit < 0) throw invalidOption('limit', 'must be a non-negative integer')
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
      async listOpen(serial, now) {
        return live(bySerial.get(serial), now).sort(newestFirst)
      },
      async findOpen(transactionId, now) {
        const ids = transactionId.includes('.') ? new Set([transactionId]) : byBase.get(transactionId)
        return live(ids, now).sort((a, b) => byString(a.transactionId, b.transactionId))
      },
      async consume(transactionId) {
        return challenges.delete(transactionId)
      },
      async settle(transactionId, patch) {
        const c = challenges.peek(transactionId)
        if (c === undefined) return false
        // Delete and re-insert with no await in between: atomic on this event loop. A plain `set`
        // would run `dispose` on the old value and drop the index entries of the new one.
        challenges.delete(transactionId)
        await createChallenge({ ...c, provider: patch.provider, expiresAt: patch.expiresAt })
        return true
      },
      async removeUpTo(serial, counter) {
        for (const id of [...(bySerial.get(serial) ?? [])]) {
          if ((challenges.peek(id)?.counter ?? Infinity) <= counter) challenges.delete(id)
        }
      },
      async removeForToken(serial) {
        for (const id of [...(bySerial.get(serial) ?? [])]) challenges.delete(id)
      },
      async purgeExpired(now) {
        let count = 0
        for (const [id, c] of [...challenges.entries()]) {
          if (c.expiresAt < now && challenges.delete(id)) count++
        }
        const before = expiredByLru
        challenges.purgeStale()
        return count + expiredByLru - before
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
