/**
 * SQLite store on better-sqlite3: the sidecar's embedded default.
 *
 * Atomicity: better-sqlite3 is synchronous, so each method's SQL runs without yielding to the
 * event loop; writes are group-committed (see `run` below). Across processes sharing the file, the security-relevant writes are single
 * conditional statements (`UPDATE ... WHERE counter = ?`, `DELETE ... WHERE transaction_id = ?`)
 * judged by their change count, and SQLite's write lock serialises them; multi-statement writes
 * use IMMEDIATE transactions so they take the write lock up front and wait (busy_timeout) instead
 * of failing on a lock upgrade.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { OtpError, describeError, invalidOption } from '../errors.js'
import { assertSettingsKind, assertSettingsOp, checkLimit } from './memory.js'
import { migrate } from './sqlite-migrations.js'
import { WalSync, type SyncFn } from './wal-sync.js'
import type { ChallengeRecord, HashLib, Store, TokenPatch, TokenQuery, TokenRecord } from './types.js'

export interface SqliteStoreOptions {
  /** Database file (its directory is created with mode 0700, the file with 0600), or ':memory:'. */
  readonly path: string
  /** @internal The fsync step of the WAL (tests inject a slow or failing one). @default fdatasync */
  readonly syncFn?: SyncFn
}

interface TokenRow {
  serial: string; type: string; user: string | null; realm: string | null; phone: string; pin_hash: string | null
  seed: string; hashlib: string; otplen: number; counter: number; failcount: number; maxfail: number
  count_window: number; active: number; description: string; created_at: number
}
interface ChallengeRow { transaction_id: string; serial: string; counter: number; created_at: number; expires_at: number; provider: string }
type Params = Record<string, string | number | null>

const TOKEN_COLS = 'serial, type, "user", realm, phone, pin_hash, seed, hashlib, otplen, counter, failcount, maxfail, count_window, active, description, created_at'
const CHALLENGE_COLS = 'transaction_id, serial, counter, created_at, expires_at, provider'
/** TokenPatch field → column. */
const PATCH_COLUMNS = [['phone', 'phone'], ['pinHash', 'pin_hash'], ['maxfail', 'maxfail'], ['active', 'active'],
  ['description', 'description'], ['user', '"user"'], ['realm', 'realm'], ['countWindow', 'count_window']] as const
const QUERY_FIELDS = [['serial', 'serial'], ['user', '"user"'], ['realm', 'realm']] as const
const HASHLIBS: ReadonlySet<string> = new Set<HashLib>(['sha1', 'sha256', 'sha512'])

const storeError = (message: string, cause?: unknown): OtpError => new OtpError('ERR_OTP_STORE', message, { cause, status: 500 })

/** Driver errors become ERR_OTP_STORE; our own coded errors pass through. */
function wrap(err: unknown): unknown {
  if (err instanceof OtpError) return err
  if (err instanceof TypeError && (err as { code?: unknown }).code === 'ERR_OTP_INVALID_OPTION') return err
  return storeError(`sqlite store failed: ${describeError(err)}`, err)
}

function toToken(r: TokenRow): TokenRecord {
  if (r.type !== 'sms' || !HASHLIBS.has(r.hashlib) || (r.otplen !== 6 && r.otplen !== 8)) throw storeError(`corrupt token row ${r.serial}`)
  return {
    serial: r.serial, type: 'sms', user: r.user, realm: r.realm, phone: r.phone, pinHash: r.pin_hash, seed: r.seed,
    hashlib: r.hashlib as HashLib, otplen: r.otplen, counter: r.counter, failcount: r.failcount, maxfail: r.maxfail,
    countWindow: r.count_window, active: r.active === 1, description: r.description, createdAt: r.created_at,
  }
}
const toChallenge = (r: ChallengeRow): ChallengeRecord => ({
  transactionId: r.transaction_id, serial: r.serial, counter: r.counter, createdAt: r.created_at, expiresAt: r.expires_at, provider: r.provider,
})

function tokenParams(t: TokenRecord): Params {
  return {
    serial: t.serial, type: t.type, user: t.user, realm: t.realm, phone: t.phone, pin_hash: t.pinHash, seed: t.seed,
    hashlib: t.hashlib, otplen: t.otplen, counter: t.counter, failcount: t.failcount, maxfail: t.maxfail,
    count_window: t.countWindow, active: t.active ? 1 : 0, description: t.description, created_at: t.createdAt,
  }
}

const challengeParams = (c: ChallengeRecord): Params => ({
  transaction_id: c.transactionId, serial: c.serial, counter: c.counter, created_at: c.createdAt, expires_at: c.expiresAt, provider: c.provider,
})

/** Every statement, prepared once per connection. */
function prepare(db: Database.Database) {
  const listSql = (mask: number): string => {
    const where = QUERY_FIELDS.filter((_, i) => mask & (1 << i)).map(([f, col]) => `${col} = @${f}`)
    return `SELECT ${TOKEN_COLS} FROM tokens ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY serial LIMIT @limit`
  }
  const open = 'expires_at >= @now'
  return {
    insertToken: db.prepare<Params>(`INSERT INTO tokens (${TOKEN_COLS}) VALUES (${TOKEN_COLS.replace(/"?(\w+)"?/g, '@$1')}) ON CONFLICT (serial) DO NOTHING`),
    getToken: db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLS} FROM tokens WHERE serial = ?`),
    // One statement per combination of query fields (2^3), so each can use its index.
    listTokens: Array.from({ length: 1 << QUERY_FIELDS.length }, (_, mask) => db.prepare<Params, TokenRow>(listSql(mask))),
    updateToken: db.prepare<Params>(`UPDATE tokens SET ${PATCH_COLUMNS.map(([f, col]) => `${col} = CASE WHEN @has_${f} THEN @${f} ELSE ${col} END`).join(', ')} WHERE serial = @serial`),
    casCounter: db.prepare<[number, string, number]>('UPDATE tokens SET counter = ? WHERE serial = ? AND counter = ?'),
    incFail: db.prepare<[string], { failcount: number }>('UPDATE tokens SET failcount = failcount + 1 WHERE serial = ? RETURNING failcount'),
    resetFail: db.prepare<[string]>('UPDATE tokens SET failcount = 0 WHERE serial = ?'),
    reserve: db.prepare<[string], { failcount: number }>('UPDATE tokens SET failcount = failcount + 1 WHERE serial = ? AND failcount < maxfail RETURNING failcount'),
    release: db.prepare<[string]>('UPDATE tokens SET failcount = failcount - 1 WHERE serial = ? AND failcount > 0'),
    removeToken: db.prepare<[string]>('DELETE FROM tokens WHERE serial = ?'),
    replaceSeed: db.prepare<[string, string, string]>('UPDATE tokens SET seed = ? WHERE serial = ? AND seed = ?'),
    insertChallenge: db.prepare<Params>(`INSERT INTO challenges (${CHALLENGE_COLS}) VALUES (@transaction_id, @serial, @counter, @created_at, @expires_at, @provider) ON CONFLICT (transaction_id) DO NOTHING`),
    listOpen: db.prepare<Params, ChallengeRow>(`SELECT ${CHALLENGE_COLS} FROM challenges WHERE serial = @serial AND ${open} ORDER BY created_at DESC, transaction_id DESC LIMIT @limit`),
    findExact: db.prepare<Params, ChallengeRow>(`SELECT ${CHALLENGE_COLS} FROM challenges WHERE transaction_id = @id AND ${open}`),
    // `X` or anything starting with `X.`: the range ['X.', 'X/') is exactly that prefix ('/' follows '.')
    // and, unlike LIKE, gives the input no wildcards.
    findBase: db.prepare<Params, ChallengeRow>(`SELECT ${CHALLENGE_COLS} FROM challenges WHERE (transaction_id = @id OR (transaction_id >= @lo AND transaction_id < @hi)) AND ${open} ORDER BY transaction_id`),
    consume: db.prepare<[string]>('DELETE FROM challenges WHERE transaction_id = ?'),
    removeForToken: db.prepare<[string]>('DELETE FROM challenges WHERE serial = ?'),
    removeUpTo: db.prepare<[string, number]>('DELETE FROM challenges WHERE serial = ? AND counter <= ?'),
    settle: db.prepare<[string, number, string]>('UPDATE challenges SET provider = ?, expires_at = ? WHERE transaction_id = ?'),
    purge: db.prepare<[number]>('DELETE FROM challenges WHERE expires_at < ?'),
    countOpen: db.prepare<Params, { n: number }>(`SELECT count(*) AS n FROM challenges WHERE ${open}`),
    listSettings: db.prepare<[string], { name: string; value: string }>('SELECT name, value FROM settings WHERE kind = ? ORDER BY name'),
    getSetting: db.prepare<[string, string], { value: string }>('SELECT value FROM settings WHERE kind = ? AND name = ?'),
    putSetting: db.prepare<[string, string, string]>('INSERT INTO settings (kind, name, value) VALUES (?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET value = excluded.value'),
    // The primary key decides: of concurrent inserts (across connections) exactly one changes a row.
    insertSetting: db.prepare<[string, string, string]>('INSERT INTO settings (kind, name, value) VALUES (?, ?, ?) ON CONFLICT (kind, name) DO NOTHING'),
    deleteSetting: db.prepare<[string, string]>('DELETE FROM settings WHERE kind = ? AND name = ?'),
  }
}
type Statements = ReturnType<typeof prepare>

/** The open batches of this process, by database file (their `flush`): see `run`. */
const openBatches = new Map<string | symbol, Set<() => void>>()

export function createSqliteStore(options: SqliteStoreOptions): Store {
  if (typeof options?.path !== 'string' || options.path === '') throw invalidOption('path', 'must be a file path or ":memory:"')
  const path = options.path
  let conn: { db: Database.Database; s: Statements } | undefined
  const key = path === ':memory:' ? Symbol('memory') : resolve(path)

  // Group commit. Writes issued while a batch is open run at once, in one IMMEDIATE transaction
  // that commits (one fsync) on the next turn of the event loop; every caller's promise settles
  // only after that commit, so "answered" still implies "durable". Each operation is still atomic
  // on its own (a single statement, or a transaction function, which nests as a savepoint), and
  // the write lock is held from the first write of a batch to its commit, so other processes on
  // the same file see whole batches.
  //
  // Reads of a file database go through a second, query-only connection, which sees committed
  // data only (WAL snapshot): no answer rests on data that could still roll back, and a read never
  // waits for a commit. A caller's own writes are visible to its later reads, because every write
  // settles only after its commit. (':memory:' cannot be shared between connections: there, a read
  // while a batch is open sees the batch's writes and is answered after the commit.)
  let reader: { db: Database.Database; s: Statements } | undefined
  // Commits made durable off the event loop (see wal-sync.ts); undefined for ':memory:' or when the
  // file system refused WAL mode (SQLite then syncs in COMMIT itself, synchronous=FULL).
  let sync: WalSync | undefined
  let batch: { readonly waiters: Array<{ ok: () => void; fail: (err: unknown) => void }> } | undefined

  const flush = (): void => {
    const b = batch
    batch = undefined
    openBatches.get(key)?.delete(flush)
    if (!b || !conn) return
    try {
      conn.db.exec('COMMIT')
    } catch (err) {
      try {
        if (conn.db.inTransaction) conn.db.exec('ROLLBACK')
      } catch { /* the first error is the one reported */ }
      for (const w of b.waiters) w.fail(wrap(err))
      return
    }
    if (!sync) {
      for (const w of b.waiters) w.ok()
      return
    }
    const durable = sync.durable(sync.committed())
    for (const w of b.waiters) durable.then(w.ok, w.fail)
  }

  /** Settles with `value` once the open batch (if any) has committed. */
  const afterCommit = <T>(value: T): Promise<T> => {
    const b = batch
    if (!b) return sync ? sync.durable().then(() => value) : Promise.resolve(value)
    return new Promise<T>((ok, fail) => b.waiters.push({ ok: () => ok(value), fail }))
  }

  const run = <T>(fn: (s: Statements, db: Database.Database) => T, writes: boolean): Promise<T> => {
    if (!conn) return Promise.reject(storeError('sqlite store is not open'))
    if (sync?.failed) return Promise.reject(sync.failed)
    const { db, s } = conn
    if (writes && !batch) {
      // Another connection of this process to the same file may hold the write lock with an open
      // batch: waiting for it here (busy_timeout) would block the very loop it commits on.
      for (const other of openBatches.get(key) ?? []) if (other !== flush) other()
      try {
        db.exec('BEGIN IMMEDIATE')
      } catch (err) {
        return Promise.reject(wrap(err))
      }
      batch = { waiters: [] }
      setImmediate(flush)
      let set = openBatches.get(key)
      if (!set) openBatches.set(key, (set = new Set()))
      set.add(flush)
    }
    let value: T
    try {
      value = fn(s, db)
    } catch (err) {
      // Most errors undo the one statement; some (I/O, disk full) end the whole transaction, and
      // then every write of the batch is gone: its callers learn it now.
      if (batch && !db.inTransaction) {
        const b = batch
        batch = undefined
        for (const w of b.waiters) w.fail(wrap(err))
      }
      return Promise.reject(wrap(err))
    }
    return afterCommit(value)
  }
  const read = <T>(fn: (s: Statements, db: Database.Database) => T): Promise<T> => {
    if (!reader || !sync) return run(fn, false)
    let value: T
    try {
      value = fn(reader.s, reader.db)
    } catch (err) {
      return Promise.reject(wrap(err))
    }
    // It may have seen a commit whose fsync is still running: answered once that is on disk too.
    return sync.durable().then(() => value)
  }
  const write = <T>(fn: (s: Statements, db: Database.Database) => T): Promise<T> => run(fn, true)

  return {
    async open() {
      if (conn) return
      let db: Database.Database | undefined
      let second: Database.Database | undefined
      try {
        if (path !== ':memory:') {
          mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 })
          // Create the file ourselves so it is born 0600 (it holds encrypted seeds and PIN hashes);
          // SQLite gives its -wal and -shm files the same mode. An existing file is left as it is.
          closeSync(openSync(path, 'a', 0o600))
        }
        db = new Database(path, { timeout: 5000 })
        const wal = db.pragma('journal_mode = WAL', { simple: true }) === 'wal'
        db.pragma('busy_timeout = 5000')
        db.pragma('foreign_keys = ON')
        // A committed counter advance must survive a power cut (else a used OTP could pass again
        // while its challenge is still open). FULL does that with an fsync inside every COMMIT, on
        // the event loop; in WAL mode the store makes each commit durable itself, off the loop,
        // before anyone is answered (wal-sync.ts), and NORMAL keeps SQLite's own syncs around
        // checkpoints. Same guarantee, without stopping the loop for every fsync.
        const offLoop = wal && path !== ':memory:'
        db.pragma(offLoop ? 'synchronous = NORMAL' : 'synchronous = FULL')
        migrate(db)
        if (offLoop) {
          const rdb = (second = new Database(path, { timeout: 5000 }))
          rdb.pragma('busy_timeout = 5000')
          rdb.pragma('query_only = ON')
          reader = { db: rdb, s: prepare(rdb) }
          sync = new WalSync(`${path}-wal`, (cause) => storeError(`the database could not be synced to disk (${describeError(cause)}): restart the process`, cause), options.syncFn)
        }
        conn = { db, s: prepare(db) }
      } catch (err) {
        second?.close()
        reader = undefined
        sync = undefined
        db?.close()
        throw wrap(err)
      }
    },
    async close() {
      flush()
      const pending = sync
      sync = undefined
      await pending?.close().catch(() => undefined) // a failed sync was reported to its callers
      reader?.db.close()
      reader = undefined
      conn?.db.close()
      conn = undefined
    },
    tokens: {
      async create(token) {
        const { changes } = (await write((s) => s.insertToken.run(tokenParams(token))))
        if (changes !== 1) throw new OtpError('ERR_OTP_TOKEN_EXISTS', 'a token with that serial exists already')
      },
      async get(serial) {
        const row = (await read((s) => s.getToken.get(serial)))
        return row && toToken(row)
      },
      async list(query: TokenQuery = {}, limit = 1000) {
        checkLimit(limit)
        const params: Params = { limit }
        let mask = 0
        QUERY_FIELDS.forEach(([f], i) => {
          const value = query[f]
          if (value === undefined) return
          mask |= 1 << i
          params[f] = value
        })
        return (await read((s) => s.listTokens[mask]?.all(params) ?? [])).map(toToken)
      },
      async update(serial, patch: TokenPatch) {
        const params: Params = { serial }
        for (const [f] of PATCH_COLUMNS) {
          const value = patch[f]
          params[`has_${f}`] = value === undefined ? 0 : 1
          params[f] = value === undefined ? null : typeof value === 'boolean' ? (value ? 1 : 0) : value
        }
        return (await write((s) => s.updateToken.run(params))).changes === 1
      },
      async casCounter(serial, expected, next) {
        return (await write((s) => s.casCounter.run(next, serial, expected))).changes === 1
      },
      async incrementFailcount(serial) {
        return (await write((s) => s.incFail.get(serial)))?.failcount
      },
      async reserveAttempt(serial) {
        return (await write((s) => s.reserve.get(serial)))?.failcount
      },
      async releaseAttempt(serial) {
        await write((s) => s.release.run(serial))
      },
      async resetFailcount(serials) {
        await write((s, db) => db.transaction(() => { for (const serial of serials) s.resetFail.run(serial) }).immediate())
      },
      async remove(serial) {
        return (await write((s) => s.removeToken.run(serial))).changes === 1
      },
      async replaceSeed(serial, expected, next) {
        return (await write((s) => s.replaceSeed.run(next, serial, expected))).changes === 1
      },
    },
    challenges: {
      async create(c) {
        const row = challengeParams(c)
        if ((await write((s) => s.insertChallenge.run(row))).changes !== 1) throw storeError('a challenge with that transaction id exists already')
      },
      async listOpen(serial, now, limit) {
        // SQLite reads a negative LIMIT as none.
        const max = limit === undefined ? -1 : checkLimit(limit)
        return (await read((s) => s.listOpen.all({ serial, now, limit: max }))).map(toChallenge)
      },
      async findOpen(id, now) {
        const rows = id.includes('.')
          ? (await read((s) => s.findExact.all({ id, now })))
          : (await read((s) => s.findBase.all({ id, lo: `${id}.`, hi: `${id}/`, now })))
        return rows.map(toChallenge)
      },
      async consume(transactionId) {
        return (await write((s) => s.consume.run(transactionId))).changes === 1
      },
      async settle(transactionId, patch) {
        return (await write((s) => s.settle.run(patch.provider, patch.expiresAt, transactionId))).changes === 1
      },
      async issue(c, expectedCounter, options = {}) {
        const row = challengeParams(c)
        return write((s, db) => db.transaction(() => {
          if (s.casCounter.run(c.counter, c.serial, expectedCounter).changes !== 1) return false
          // Throwing rolls the savepoint back: the counter advance goes with the refused insert.
          if (s.insertChallenge.run(row).changes !== 1) throw storeError('a challenge with that transaction id exists already')
          if (options.releaseAttempt === true) s.release.run(c.serial)
          return true
        }).immediate())
      },
      async accept(serial, expectedCounter, acceptedCounter) {
        return write((s, db) => db.transaction(() => {
          if (s.casCounter.run(acceptedCounter + 1, serial, expectedCounter).changes !== 1) return false
          s.removeUpTo.run(serial, acceptedCounter)
          return true
        }).immediate())
      },
      async removeUpTo(serial, counter) {
        await write((s) => s.removeUpTo.run(serial, counter))
      },
      async removeForToken(serial) {
        await write((s) => s.removeForToken.run(serial))
      },
      async purgeExpired(now) {
        return (await write((s) => s.purge.run(now))).changes
      },
      async countOpen(now) {
        return (await read((s) => s.countOpen.get({ now })))?.n ?? 0
      },
    },
    settings: {
      async list(kind) {
        assertSettingsKind(kind)
        return new Map((await read((s) => s.listSettings.all(kind))).map((r) => [r.name, r.value]))
      },
      async get(kind, name) {
        assertSettingsKind(kind)
        return (await read((s) => s.getSetting.get(kind, name)))?.value
      },
      async put(kind, name, value) {
        assertSettingsKind(kind)
        await write((s) => s.putSetting.run(kind, name, value))
      },
      async putIfAbsent(kind, name, value) {
        assertSettingsKind(kind)
        return (await write((s) => s.insertSetting.run(kind, name, value))).changes === 1
      },
      async delete(kind, name) {
        assertSettingsKind(kind)
        return (await write((s) => s.deleteSetting.run(kind, name))).changes === 1
      },
      async batch(ops) {
        // Each op is checked inside the transaction: a bad later op rolls back the earlier writes.
        await write((s, db) => db.transaction(() => {
          for (const op of ops) {
            assertSettingsOp(op)
            if (op.value === null) s.deleteSetting.run(op.kind, op.name)
            else s.putSetting.run(op.kind, op.name, op.value)
          }
        }).immediate())
      },
    },
  }
}
