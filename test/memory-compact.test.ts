/**
 * The compact challenge table of the memory store and the compact handle home: eviction order,
 * expiry, the widening index and slot reuse after many evictions (issue 9, item 4).
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import { handleHome, HANDLE_PATTERN, type Pending } from '../src/login/pending.js'
import { createMemoryStore } from '../src/stores/memory.js'
import type { ChallengeRecord } from '../src/stores/types.js'

const NOW = 1_700_000_000_000
const challenge = (id: string, serial: string, extra: Partial<ChallengeRecord> = {}): ChallengeRecord => ({
  transactionId: id, serial, counter: 1, createdAt: NOW, expiresAt: NOW + 60_000, provider: 'gw', ...extra,
})
const ids = (cs: ChallengeRecord[]): string[] => cs.map((c) => c.transactionId)
/** A 17-digit id, as the engine makes them, built by concatenation (a V8 cons string). */
const txid = (i: number): string => `1${String(i).padStart(16, '0')}`

describe('memory store: compact challenge table', () => {
  it('evicts strictly oldest-first over many rounds of slot reuse; reads and settle do not refresh, consume frees a slot', async () => {
    const store = createMemoryStore({ maxChallenges: 3 })
    for (const id of ['1', '2', '3']) await store.challenges.create(challenge(id, 'S'))
    await store.challenges.findOpen('1', NOW) // a read keeps no record alive
    await store.challenges.listOpen('S', NOW)
    await store.challenges.create(challenge('4', 'S'))
    assert.deepEqual(ids(await store.challenges.listOpen('S', NOW)).sort(), ['2', '3', '4'])
    assert.equal(await store.challenges.consume('3'), true) // frees a slot: nothing else goes
    await store.challenges.create(challenge('5', 'S'))
    assert.deepEqual(ids(await store.challenges.listOpen('S', NOW)).sort(), ['2', '4', '5'])
    // settle re-inserts: the settled record becomes the newest
    assert.equal(await store.challenges.settle('2', { provider: 'other', expiresAt: NOW + 120_000 }), true)
    await store.challenges.create(challenge('6', 'S'))
    assert.deepEqual(ids(await store.challenges.listOpen('S', NOW)).sort(), ['2', '5', '6'])
    assert.equal((await store.challenges.findOpen('2', NOW))[0]?.provider, 'other')
    // many rounds through the free list keep the bound and the order
    for (let i = 7; i < 200; i++) await store.challenges.create(challenge(String(i), `T${i % 7}`, { counter: i }))
    const open = (await Promise.all(['T0', 'T1', 'T2', 'T3', 'T4', 'T5', 'T6'].map((s) => store.challenges.listOpen(s, NOW)))).flat()
    assert.deepEqual(ids(open).sort(), ['197', '198', '199'])
    assert.deepEqual(await store.challenges.listOpen('S', NOW), [])
  })

  it('keeps each token\'s chain exact when records leave from its head, middle and tail', async () => {
    const store = createMemoryStore({ maxChallenges: 10 })
    for (let i = 1; i <= 5; i++) await store.challenges.create(challenge(String(i), 'A', { counter: i, createdAt: NOW + i }))
    await store.challenges.create(challenge('9', 'B'))
    assert.equal(await store.challenges.consume('3'), true) // middle
    assert.equal(await store.challenges.consume('5'), true) // newest (chain head)
    assert.equal(await store.challenges.consume('1'), true) // oldest (chain tail)
    assert.deepEqual(ids(await store.challenges.listOpen('A', NOW)), ['4', '2'])
    await store.challenges.removeUpTo('A', 2)
    assert.deepEqual(ids(await store.challenges.listOpen('A', NOW)), ['4'])
    await store.challenges.removeForToken('A')
    assert.deepEqual(await store.challenges.listOpen('A', NOW), [])
    assert.deepEqual(ids(await store.challenges.listOpen('B', NOW)), ['9'])
    await store.challenges.create(challenge('10', 'A'))
    assert.deepEqual(ids(await store.challenges.listOpen('A', NOW)), ['10'])
  })

  it('widens a base id to its sub ids after the base itself was evicted, and forgets evicted sub ids', async () => {
    const store = createMemoryStore({ maxChallenges: 3 })
    for (const id of ['500', '500.01', '500.02']) await store.challenges.create(challenge(id, 'S'))
    await store.challenges.create(challenge('600', 'S')) // evicts the base 500
    assert.deepEqual(ids(await store.challenges.findOpen('500', NOW)), ['500.01', '500.02'])
    assert.deepEqual(ids(await store.challenges.findOpen('500.02', NOW)), ['500.02'])
    await store.challenges.create(challenge('700', 'S')) // evicts 500.01
    assert.deepEqual(ids(await store.challenges.findOpen('500', NOW)), ['500.02'])
    assert.equal(await store.challenges.consume('500.02'), true)
    assert.deepEqual(await store.challenges.findOpen('500', NOW), [])
    await store.challenges.create(challenge('500', 'S')) // the base id may be used again
    assert.deepEqual(ids(await store.challenges.findOpen('500', NOW)), ['500'])
  })

  it('never returns an expired record, and lets a stale id be created again', async () => {
    const store = createMemoryStore({ maxChallenges: 5 })
    await store.challenges.create(challenge('1', 'S', { expiresAt: NOW - 1 }))
    await store.challenges.create(challenge('2', 'S'))
    assert.deepEqual(ids(await store.challenges.findOpen('1', NOW)), [])
    assert.deepEqual(ids(await store.challenges.listOpen('S', NOW)), ['2'])
    assert.equal(await store.challenges.purgeExpired(NOW), 1)
    assert.equal(await store.challenges.consume('1'), false, 'purged')

    const createdAt = Date.now()
    await store.challenges.create(challenge('3', 'S', { createdAt, expiresAt: createdAt + 10 }))
    await assert.rejects(store.challenges.create(challenge('3', 'S', { createdAt, expiresAt: createdAt + 10 })), { code: 'ERR_OTP_STORE' })
    await sleep(40)
    assert.equal(await store.challenges.settle('3', { provider: 'x', expiresAt: createdAt + 60_000 }), false, 'stale reads as absent')
    const again = challenge('3', 'T', { createdAt, expiresAt: createdAt + 60_000, counter: 9 })
    await store.challenges.create(again) // a stale id is taken over
    assert.deepEqual(await store.challenges.findOpen('3', createdAt), [again])
    assert.deepEqual(ids(await store.challenges.listOpen('S', NOW)), ['2'], 'the stale record left its token\'s chain')
  })

  it('returns records equal to what was stored, for ids built by concatenation too', async () => {
    const store = createMemoryStore({ maxChallenges: 1000 })
    const made: ChallengeRecord[] = []
    for (let i = 0; i < 1000; i++) made.push(challenge(txid(i), `T${i % 10}`, { counter: i * 1e9, provider: i % 2 ? 'gw' : `p${i % 3}` }))
    for (const c of made) await store.challenges.create(c)
    for (const c of made) assert.deepEqual(await store.challenges.findOpen(c.transactionId, NOW), [c])
  })
})

describe('memory store: ids and names of every shape', () => {
  const odd = ['1', '9'.repeat(18), '1'.repeat(19), '123456789', '1234567890', '0123', '1000.0', '1000.00', '1000.000', '1000.999', '1000.1234',
    '1.2.3', '', '.5', 'abc', '1e5', ' 1', '1 ', '١٢٣', '\u{1F600}', "'; DROP TABLE x; --", '%', '1000.01x', '00', '100000000000000000.01']

  it('round-trips and tells apart ids however they look (packed digits or kept as strings)', async () => {
    const store = createMemoryStore({ maxChallenges: 100 })
    for (const [i, id] of odd.entries()) await store.challenges.create(challenge(id, 'S', { counter: i }))
    for (const [i, id] of odd.entries()) assert.deepEqual(await store.challenges.findOpen(id, NOW).then((cs) => cs.filter((c) => c.transactionId === id)), [challenge(id, 'S', { counter: i })], JSON.stringify(id))
    assert.deepEqual(ids(await store.challenges.findOpen('1000', NOW)), ['1000.0', '1000.00', '1000.000', '1000.01x', '1000.1234', '1000.999'])
    assert.deepEqual(ids(await store.challenges.findOpen('1', NOW)), ['1', '1.2.3'])
    assert.deepEqual(ids(await store.challenges.findOpen('', NOW)).sort(), ['', '.5'])
    for (const id of ['1000.01', '2', '9'.repeat(17), '01', '1000.0000']) assert.deepEqual(await store.challenges.findOpen(id, NOW), [], id)
    for (const id of odd) assert.equal(await store.challenges.consume(id), true, JSON.stringify(id))
    for (const id of odd) assert.equal(await store.challenges.consume(id), false, JSON.stringify(id))
    assert.deepEqual(await store.challenges.listOpen('S', NOW), [])
  })

  it('keeps provider names right beyond the shared pool of names', async () => {
    const store = createMemoryStore({ maxChallenges: 6000 })
    for (let i = 0; i < 5000; i++) await store.challenges.create(challenge(String(i + 1), 'S', { provider: `gw-${i}` }))
    for (const i of [0, 4095, 4096, 4999]) assert.equal((await store.challenges.findOpen(String(i + 1), NOW))[0]?.provider, `gw-${i}`)
  })
})

describe('handle home: compact LRU', () => {
  const pending = (i: number, extra: Partial<Pending> = {}): Pending => ({
    user: `user${i}`, realm: 'example', transactionId: txid(i), expiresAt: NOW + 300_000, resendAt: NOW + 30_000, attempts: i % 3, maskedPhone: '+49*******5678', ...extra,
  })

  it('round-trips every field, with and without a masked phone and a realm; a copy each time', () => {
    const home = handleHome({ max: 10 })
    const a = pending(1)
    const b: Pending = { user: 'ü-bob', realm: null, transactionId: '123.01', expiresAt: 1.5, resendAt: -2, attempts: 7 }
    const ha = home.put({}, a) as string
    const hb = home.put({}, b) as string
    assert.deepEqual(home.peek({ handle: ha }), a)
    assert.deepEqual(home.peek({ handle: hb }), b)
    assert.equal('maskedPhone' in (home.peek({ handle: hb }) as Pending), false)
    assert.notEqual(home.peek({ handle: ha }), home.peek({ handle: ha }))
  })

  it('evicts the least recently used: a peek refreshes, a put with reuse replaces in place', () => {
    const home = handleHome({ max: 3 })
    const [h1, h2, h3] = [1, 2, 3].map((i) => home.put({}, pending(i)) as string) as [string, string, string]
    assert.ok(home.peek({ handle: h1 })) // h1 is now the most recent: h2 goes next
    const h4 = home.put({}, pending(4)) as string
    assert.equal(home.peek({ handle: h2 }), undefined)
    assert.ok(home.peek({ handle: h3 }))
    // take + put with reuse keeps the handle and makes it the most recent
    const p1 = home.take({ handle: h1 }) as Pending
    assert.equal(home.put({}, { ...p1, attempts: 2 }, h1), h1)
    home.put({}, pending(5)) // evicts h4 (h3 was peeked after h4 was put)
    assert.equal(home.peek({ handle: h4 }), undefined)
    assert.equal(home.peek({ handle: h1 })?.attempts, 2)
    assert.ok(home.peek({ handle: h3 }))
  })

  it('keeps the bound and the order through many rounds of slot reuse', () => {
    const home = handleHome({ max: 50 })
    const handles: string[] = []
    for (let i = 0; i < 1000; i++) handles.push(home.put({}, pending(i)) as string)
    for (let i = 0; i < 950; i++) assert.equal(home.peek({ handle: handles[i] }), undefined)
    for (let i = 950; i < 1000; i++) assert.deepEqual(home.peek({ handle: handles[i] }), pending(i))
    for (let i = 950; i < 1000; i += 2) assert.ok(home.take({ handle: handles[i] }))
    for (let i = 950; i < 1000; i++) assert.equal(home.peek({ handle: handles[i] }) === undefined, i % 2 === 0)
  })

  it('tells apart handles that differ only in the spare bits of their last character', () => {
    const home = handleHome({ max: 4 })
    const base = 'A'.repeat(42)
    assert.equal(home.put({}, pending(1), `${base}A`), `${base}A`)
    assert.equal(home.put({}, pending(2), `${base}B`), `${base}B`)
    assert.equal(home.peek({ handle: `${base}A` })?.user, 'user1')
    assert.equal(home.peek({ handle: `${base}B` })?.user, 'user2')
    assert.equal(home.peek({ handle: `${base}C` }), undefined)
    for (const h of [`${base}A`, `${base}B`]) assert.match(h, HANDLE_PATTERN)
  })

  it('keeps realms, masked phones and transaction ids right beyond the shared pool', () => {
    const home = handleHome({ max: 6000 })
    const made = Array.from({ length: 5000 }, (_, i) => pending(i, { realm: `r${i}`, maskedPhone: `+49***${i}`, transactionId: i % 2 ? txid(i) : `x${i}` }))
    const handles = made.map((p) => home.put({}, p) as string)
    for (const i of [0, 1, 4095, 4096, 4097, 4999]) assert.deepEqual(home.peek({ handle: handles[i] }), made[i])
  })

  it('drops a record older than ttlMs', async () => {
    const home = handleHome({ max: 4, ttlMs: 10 })
    const h = home.put({}, pending(1)) as string
    await sleep(40)
    assert.equal(home.peek({ handle: h }), undefined)
    assert.equal(home.take({ handle: h }), undefined)
  })
})
