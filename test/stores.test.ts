import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { isOtpError } from '../src/errors.js'
import { createMemoryStore, createSqliteStore } from '../src/stores/index.js'
import type { ChallengeRecord, Store, TokenRecord } from '../src/stores/types.js'
import { MIGRATIONS, SCHEMA_VERSION, migrate } from '../src/stores/sqlite-migrations.js'
import { NOW, makeChallenge, makeToken, races, storeContract } from './store-contract.js'
import { turn } from './helpers/yielding-store.js'

const tmp = mkdtempSync(join(tmpdir(), 'sms-otp-stores-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
let seq = 0
const dbPath = (label: string): string => join(tmp, `${label}-${seq++}.db`)
const storeError = (err: unknown): boolean => isOtpError(err, 'ERR_OTP_STORE')
const invalidOption = (err: unknown): boolean => (err as { code?: unknown }).code === 'ERR_OTP_INVALID_OPTION'
const userVersion = (path: string): number => {
  const db = new Database(path, { readonly: true })
  try {
    return db.pragma('user_version', { simple: true }) as number
  } finally {
    db.close()
  }
}

storeContract('memory', async () => createMemoryStore())
storeContract('sqlite file', async () => createSqliteStore({ path: dbPath('contract') }))
storeContract('sqlite :memory:', async () => createSqliteStore({ path: ':memory:' }))

/**
 * A store whose read-check-write steps yield in the middle, as a naive networked backend would
 * (SELECT, then UPDATE). Each race test of the contract must fail on it: otherwise the test could
 * not tell an atomic store from this one.
 */
function nonAtomicStore(): Store {
  const inner = createMemoryStore()
  const tokens = new Map<string, TokenRecord>()
  const challenges = new Map<string, ChallengeRecord>()
  const broken: Pick<Store['tokens'], 'create' | 'get' | 'casCounter' | 'incrementFailcount' | 'reserveAttempt'> = {
    async create(t) { tokens.set(t.serial, t) },
    async get(serial) { return tokens.get(serial) },
    async casCounter(serial, expected, next) {
      const t = tokens.get(serial)
      await turn()
      if (!t || t.counter !== expected) return false
      tokens.set(serial, { ...t, counter: next })
      return true
    },
    async incrementFailcount(serial) {
      const t = tokens.get(serial)
      await turn()
      if (!t) return undefined
      tokens.set(serial, { ...t, failcount: t.failcount + 1 })
      return t.failcount + 1
    },
    async reserveAttempt(serial) {
      const t = tokens.get(serial)
      await turn()
      if (!t || t.failcount >= t.maxfail) return undefined
      tokens.set(serial, { ...t, failcount: t.failcount + 1 })
      return t.failcount + 1
    },
  }
  const brokenChallenges: Pick<Store['challenges'], 'create' | 'consume' | 'settle' | 'listOpen' | 'issue' | 'accept'> = {
    async create(c) { challenges.set(c.transactionId, c) },
    async issue(c, expected, options = {}) {
      const t = tokens.get(c.serial)
      await turn()
      if (!t || t.counter !== expected) return false
      challenges.set(c.transactionId, c)
      tokens.set(c.serial, { ...t, counter: c.counter, failcount: options.releaseAttempt === true ? Math.max(0, t.failcount - 1) : t.failcount })
      return true
    },
    async accept(serial, expected, accepted) {
      const t = tokens.get(serial)
      await turn()
      if (!t || t.counter !== expected) return false
      tokens.set(serial, { ...t, counter: accepted + 1 })
      return true
    },
    async consume(id) {
      const had = challenges.has(id)
      await turn()
      challenges.delete(id)
      return had
    },
    async settle(id, patch) {
      const c = challenges.get(id)
      if (!c) return false
      challenges.delete(id)
      await turn()
      challenges.set(id, { ...c, ...patch })
      return true
    },
    async listOpen(serial, now) { return [...challenges.values()].filter((c) => c.serial === serial && c.expiresAt >= now) },
  }
  const brokenSettings: Pick<Store['settings'], 'putIfAbsent'> = {
    async putIfAbsent(kind, name, value) {
      const had = (await inner.settings.get(kind, name)) !== undefined
      await turn()
      if (had) return false
      await inner.settings.put(kind, name, value)
      return true
    },
  }
  return { ...inner, tokens: { ...inner.tokens, ...broken }, challenges: { ...inner.challenges, ...brokenChallenges }, settings: { ...inner.settings, ...brokenSettings } }
}

describe('the contract\'s race tests can fail', () => {
  for (const [name, race] of Object.entries(races)) {
    it(`${name}: fails on a store that reads, yields, then writes`, async () => {
      await assert.rejects(race(nonAtomicStore()), assert.AssertionError)
    })
  }
})

describe('memory store', () => {
  it('rejects options that are not positive integers', () => {
    assert.throws(() => createMemoryStore({ maxTokens: 0 }), invalidOption)
    assert.throws(() => createMemoryStore({ maxChallenges: 1.5 }), invalidOption)
  })

  it('refuses tokens beyond maxTokens instead of evicting one', async () => {
    const store = createMemoryStore({ maxTokens: 2 })
    await store.tokens.create(makeToken('A'))
    await store.tokens.create(makeToken('B'))
    await assert.rejects(store.tokens.create(makeToken('C')), (err) => storeError(err) && /full/.test((err as Error).message))
    assert.ok(await store.tokens.get('A'))
    assert.ok(await store.tokens.get('B'))
    await store.tokens.remove('A')
    await store.tokens.create(makeToken('C'))
  })

  it('bounds challenges by maxChallenges, dropping the oldest', async () => {
    const store = createMemoryStore({ maxChallenges: 2 })
    for (const id of ['1', '2', '3']) await store.challenges.create(makeChallenge(id, 'S'))
    await store.challenges.findOpen('2', NOW) // reading must not keep a challenge alive
    assert.deepEqual((await store.challenges.listOpen('S', NOW)).map((c) => c.transactionId), ['3', '2'])
    await store.challenges.create(makeChallenge('4', 'S'))
    assert.deepEqual((await store.challenges.findOpen('2', NOW)), [])
  })

  it('reclaims a challenge once its validity has passed, whatever the caller\'s clock says', async () => {
    const store = createMemoryStore()
    const createdAt = Date.now()
    await store.challenges.create(makeChallenge('1', 'S', { createdAt, expiresAt: createdAt + 20 }))
    await store.challenges.create(makeChallenge('2', 'S', { createdAt, expiresAt: createdAt + 60_000 }))
    await sleep(60)
    assert.deepEqual((await store.challenges.findOpen('1', createdAt)), [])
    assert.deepEqual((await store.challenges.listOpen('S', createdAt)).map((c) => c.transactionId), ['2'])
  })

  it('counts challenges reclaimed by their TTL in purgeExpired', async () => {
    const store = createMemoryStore()
    const createdAt = Date.now()
    await store.challenges.create(makeChallenge('1', 'S', { createdAt, expiresAt: createdAt + 10 }))
    await sleep(40)
    assert.equal(await store.challenges.purgeExpired(Date.now()), 1)
  })
})

describe('sqlite store', () => {
  it('rejects a missing path', () => {
    assert.throws(() => createSqliteStore({ path: '' }), invalidOption)
  })

  it('rejects use before open and after close', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    await assert.rejects(store.tokens.get('x'), storeError)
    await store.open()
    await store.close()
    await assert.rejects(store.challenges.consume('1'), storeError)
    await store.close() // idempotent
  })

  it('records migrations in user_version; re-opening an existing database is a no-op', async () => {
    const path = dbPath('migrate')
    const store = createSqliteStore({ path })
    await store.open()
    await store.open() // idempotent while open
    await store.tokens.create(makeToken('KEEP'))
    await store.close()
    assert.equal(userVersion(path), SCHEMA_VERSION)
    assert.equal(SCHEMA_VERSION, MIGRATIONS.length)
    await store.open()
    assert.deepEqual(await store.tokens.get('KEEP'), makeToken('KEEP'))
    await store.close()
    assert.equal(userVersion(path), SCHEMA_VERSION)
  })

  it('refuses a database written by a newer version and leaves it alone', async () => {
    const path = dbPath('future')
    const raw = new Database(path)
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    raw.close()
    const store = createSqliteStore({ path })
    await assert.rejects(store.open(), (err) => storeError(err) && /newer/.test((err as Error).message))
    await assert.rejects(store.tokens.get('x'), storeError)
    assert.equal(userVersion(path), SCHEMA_VERSION + 1)
    const check = new Database(path, { readonly: true })
    assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), [])
    check.close()
  })

  it('applies a later migration on upgrade, and a failing one rolls back whole', () => {
    const db = new Database(':memory:')
    migrate(db)
    migrate(db, [...MIGRATIONS, { version: SCHEMA_VERSION + 1, up: 'CREATE TABLE extra (x TEXT) STRICT' }])
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1)
    const broken = { version: SCHEMA_VERSION + 2, up: 'CREATE TABLE half (x TEXT); SELECT nope FROM nowhere' }
    assert.throws(() => migrate(db, [...MIGRATIONS, { version: SCHEMA_VERSION + 1, up: '' }, broken]))
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1)
    assert.equal(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get(), undefined)
    assert.throws(() => migrate(db, [{ version: 2, up: '' }]), storeError)
    db.close()
  })

  it('seed leak via file permissions: creates the directory 0700 and the database 0600', { skip: process.platform === 'win32' }, async () => {
    const path = join(tmp, 'nested', 'deeper', 'otp.db')
    const store = createSqliteStore({ path })
    await store.open()
    await store.tokens.create(makeToken('M'))
    assert.equal(statSync(join(tmp, 'nested', 'deeper')).mode & 0o777, 0o700)
    assert.equal(statSync(path).mode & 0o777, 0o600)
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600)
    await store.close()
  })

  it('runs in WAL mode', async () => {
    const path = dbPath('wal')
    const store = createSqliteStore({ path })
    await store.open()
    const raw = new Database(path)
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal')
    raw.close()
    await store.close()
  })

  it('refuses a value of the wrong type instead of storing it', async () => {
    const store = createSqliteStore({ path: ':memory:' })
    await store.open()
    await assert.rejects(store.tokens.create(makeToken('BAD', { otplen: 7 as 6 })), storeError)
    await assert.rejects(store.tokens.create(makeToken('BAD', { counter: 1.5 })), storeError)
    assert.equal(await store.tokens.get('BAD'), undefined)
    await store.close()
  })

  it('shares one file between two instances: data and CAS are visible to both', async () => {
    const path = dbPath('shared')
    const a = createSqliteStore({ path })
    const b = createSqliteStore({ path })
    await Promise.all([a.open(), b.open()])
    await a.tokens.create(makeToken('SHARED', { counter: 3 }))
    assert.deepEqual(await b.tokens.get('SHARED'), makeToken('SHARED', { counter: 3 }))
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).tokens.casCounter('SHARED', 3, 4 + i)))
    assert.equal(results.filter(Boolean).length, 1)
    assert.equal((await a.tokens.get('SHARED'))?.counter, 4 + results.indexOf(true))
    await b.challenges.create(makeChallenge('42', 'SHARED'))
    const consumed = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).challenges.consume('42')))
    assert.equal(consumed.filter(Boolean).length, 1)
    await b.settings.put('config', 'k', 'v')
    assert.equal(await a.settings.get('config', 'k'), 'v')
    await Promise.all([a.close(), b.close()])
  })

  it('opens again after close', async () => {
    const path = dbPath('reopen')
    const store = createSqliteStore({ path })
    await store.open()
    await store.challenges.create(makeChallenge('1', 'S'))
    await store.close()
    await store.open()
    assert.equal((await store.challenges.findOpen('1', NOW)).length, 1)
    await store.close()
  })

  it('OTP replay across processes: each counter step and each challenge is won exactly once', async () => {
    const path = dbPath('processes')
    const setup = createSqliteStore({ path })
    await setup.open()
    const rounds = 300
    await setup.tokens.create(makeToken('CAS'))
    for (let i = 0; i < rounds; i++) await setup.challenges.create(makeChallenge(String(i), 'CAS'))
    const results = await runWorkers(4, path, rounds)
    const counter = (await setup.tokens.get('CAS'))?.counter
    await setup.close()
    // Two winners of one step would make the wins outnumber the counter's steps.
    assert.equal(results.reduce((n, r) => n + r.cas, 0), counter)
    assert.equal(results.reduce((n, r) => n + r.consumed, 0), rounds)
  })
})

/** Starts `n` node processes on one database; each races through the same CAS steps and consumes. */
async function runWorkers(n: number, path: string, rounds: number): Promise<Array<{ cas: number; consumed: number }>> {
  const module = pathToFileURL(join(import.meta.dirname, '../src/stores/sqlite.ts')).href
  const code = `
    import { createSqliteStore } from ${JSON.stringify(module)}
    const store = createSqliteStore({ path: process.env.DB })
    await store.open()
    process.stdout.write('ready\\n')
    await new Promise((r) => process.stdin.once('data', r))
    let cas = 0, consumed = 0
    for (let i = 0; i < ${rounds}; i++) {
      if (await store.tokens.casCounter('CAS', i, i + 1)) cas++
      if (await store.challenges.consume(String(i))) consumed++
    }
    await store.close()
    process.stdout.write(JSON.stringify({ cas, consumed }) + '\\n')
    process.exit(0)
  `
  const children = Array.from({ length: n }, () => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, DB: path }, stdio: ['pipe', 'pipe', 'inherit'],
  }))
  const outputs = children.map((child) => {
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    const ready = new Promise<void>((resolve) => child.stdout.on('data', () => out.startsWith('ready\n') && resolve()))
    const done = new Promise<string>((resolve, reject) => child.on('exit', (exit) => (exit === 0 ? resolve(out) : reject(new Error(`worker exited ${exit}`)))))
    return { ready, done }
  })
  await Promise.all(outputs.map((o) => o.ready))
  for (const child of children) child.stdin.end('go\n')
  const texts = await Promise.all(outputs.map((o) => o.done))
  return texts.map((t) => JSON.parse(t.split('\n')[1] ?? '') as { cas: number; consumed: number })
}

