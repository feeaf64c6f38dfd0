/**
 * The contract every store backend must pass (memory, sqlite; postgres and redis later).
 * `makeStore` returns a fresh, empty, not yet opened store; each test opens it and closes it.
 * Times are fixed (a test clock), so a backend must judge expiry by the `now` it is given.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { isOtpError, type OtpErrorCode } from '../src/errors.js'
import type { ChallengeRecord, SettingsKind, Store, TokenRecord } from '../src/stores/types.js'
import { barrier, yieldingStore } from './helpers/yielding-store.js'

export const NOW = 1_700_000_000_000
const MIN = 60_000

export function makeToken(serial: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return {
    serial, type: 'sms', user: 'alice', realm: 'example', phone: '+49 170 1234567', pinHash: 'hmac$salt$hash',
    seed: 'v1.iv.ciphertext.tag', hashlib: 'sha1', otplen: 6, counter: 0, failcount: 0, maxfail: 10,
    countWindow: 10, active: true, description: 'test token', createdAt: NOW, ...over,
  }
}

export function makeChallenge(transactionId: string, serial: string, over: Partial<ChallengeRecord> = {}): ChallengeRecord {
  return { transactionId, serial, counter: 1, createdAt: NOW, expiresAt: NOW + 5 * MIN, provider: 'gw', ...over }
}

const code = (c: OtpErrorCode) => (err: unknown): boolean => isOtpError(err, c)
const invalidOption = (err: unknown): boolean => (err as { code?: unknown }).code === 'ERR_OTP_INVALID_OPTION'
const ids = (cs: readonly ChallengeRecord[]): string[] => cs.map((c) => c.transactionId)
const times = <T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, (_, i) => fn(i)))

export function storeContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store
    beforeEach(async () => {
      store = await makeStore()
      await store.open()
    })
    afterEach(async () => {
      await store.close()
    })

    describe('tokens', () => {
      it('creates and gets a token; unknown serials are undefined', async () => {
        await store.tokens.create(makeToken('S1'))
        assert.deepEqual(await store.tokens.get('S1'), makeToken('S1'))
        assert.equal(await store.tokens.get('S2'), undefined)
      })

      it('round-trips every field, including nulls, otplen 8, inactive and sha512', async () => {
        const odd = makeToken('ODD', {
          user: null, realm: null, pinHash: null, otplen: 8, active: false, hashlib: 'sha512', counter: 2 ** 40,
          failcount: 3, maxfail: 5, countWindow: 25, phone: '0170/123 45-67', description: 'Ünïcødé "quoted" \'x\'', createdAt: NOW + 1,
        })
        const other = makeToken('OTHER', { hashlib: 'sha256', description: '' })
        await store.tokens.create(odd)
        await store.tokens.create(other)
        assert.deepEqual(await store.tokens.get('ODD'), odd)
        assert.deepEqual(await store.tokens.get('OTHER'), other)
        const got = await store.tokens.get('ODD')
        assert.equal(got?.active, false)
        assert.equal(typeof got?.counter, 'number')
      })

      it('rejects a duplicate serial with ERR_OTP_TOKEN_EXISTS and keeps the original', async () => {
        await store.tokens.create(makeToken('DUP', { phone: '111' }))
        await assert.rejects(store.tokens.create(makeToken('DUP', { phone: '222' })), code('ERR_OTP_TOKEN_EXISTS'))
        assert.equal((await store.tokens.get('DUP'))?.phone, '111')
      })

      it('copies records in and out', async () => {
        const input = makeToken('COPY') as { -readonly [K in keyof TokenRecord]: TokenRecord[K] }
        await store.tokens.create(input)
        input.counter = 99
        const out = (await store.tokens.get('COPY')) as { counter: number } | undefined
        assert.ok(out)
        out.counter = 77
        const [listed] = (await store.tokens.list({ serial: 'COPY' })) as Array<{ counter: number }>
        assert.ok(listed)
        listed.counter = 55
        assert.equal((await store.tokens.get('COPY'))?.counter, 0)
      })

      it('lists by filters, ordered by serial, bounded by limit', async () => {
        for (const [serial, user, realm] of [['T3', 'bob', 'a'], ['T1', 'alice', 'a'], ['T2', 'alice', 'b'], ['T4', 'alice', 'a']] as const) {
          await store.tokens.create(makeToken(serial, { user, realm }))
        }
        await store.tokens.create(makeToken('T0', { user: null, realm: null }))
        const serials = async (...args: Parameters<Store['tokens']['list']>) => (await store.tokens.list(...args)).map((t) => t.serial)
        assert.deepEqual(await serials(), ['T0', 'T1', 'T2', 'T3', 'T4'])
        assert.deepEqual(await serials({ user: 'alice' }), ['T1', 'T2', 'T4'])
        assert.deepEqual(await serials({ realm: 'a' }), ['T1', 'T3', 'T4'])
        assert.deepEqual(await serials({ user: 'alice', realm: 'a' }), ['T1', 'T4'])
        assert.deepEqual(await serials({ serial: 'T2', user: 'alice' }), ['T2'])
        assert.deepEqual(await serials({ serial: 'T2', user: 'bob' }), [])
        assert.deepEqual(await serials({ user: 'nobody' }), [])
        assert.deepEqual(await serials({}, 2), ['T0', 'T1'])
        assert.deepEqual(await serials({ user: 'alice' }, 0), [])
        assert.deepEqual((await store.tokens.list({ serial: 'T3' }))[0], makeToken('T3', { user: 'bob', realm: 'a' }))
        await assert.rejects(store.tokens.list({}, -1), invalidOption)
      })

      it('lists at most 1000 by default', async () => {
        for (let i = 0; i < 1001; i++) await store.tokens.create(makeToken(`L${String(i).padStart(4, '0')}`))
        const all = await store.tokens.list()
        assert.equal(all.length, 1000)
        assert.equal(all.at(-1)?.serial, 'L0999')
      })

      it('updates plain fields only; false for an unknown serial', async () => {
        await store.tokens.create(makeToken('U'))
        assert.equal(await store.tokens.update('U', { phone: '+1 555', pinHash: null, user: null, realm: null, active: false, maxfail: 3, countWindow: 50, description: 'd' }), true)
        assert.deepEqual(await store.tokens.get('U'), makeToken('U', { phone: '+1 555', pinHash: null, user: null, realm: null, active: false, maxfail: 3, countWindow: 50, description: 'd' }))
        assert.equal(await store.tokens.update('U', {}), true)
        assert.equal(await store.tokens.update('U', { active: true, user: 'carol' }), true)
        const u = await store.tokens.get('U')
        assert.equal(u?.active, true)
        assert.equal(u?.user, 'carol')
        assert.equal(u?.phone, '+1 555')
        assert.equal(await store.tokens.update('NOPE', { phone: 'x' }), false)
      })

      it('ignores counter, failcount, seed and serial smuggled into an untyped patch', async () => {
        await store.tokens.create(makeToken('SMUGGLE'))
        const patch = { description: 'ok', counter: 500, failcount: 9, seed: 'evil', serial: 'OTHER' } as Parameters<Store['tokens']['update']>[1]
        assert.equal(await store.tokens.update('SMUGGLE', patch), true)
        assert.deepEqual(await store.tokens.get('SMUGGLE'), makeToken('SMUGGLE', { description: 'ok' }))
        assert.equal(await store.tokens.get('OTHER'), undefined)
      })

      it('casCounter sets the counter only from the expected value', async () => {
        await store.tokens.create(makeToken('C', { counter: 5 }))
        assert.equal(await store.tokens.casCounter('C', 4, 9), false)
        assert.equal((await store.tokens.get('C'))?.counter, 5)
        assert.equal(await store.tokens.casCounter('C', 5, 7), true)
        assert.equal((await store.tokens.get('C'))?.counter, 7)
        assert.equal(await store.tokens.casCounter('C', 5, 8), false)
        assert.equal((await store.tokens.get('C'))?.counter, 7)
        assert.equal(await store.tokens.casCounter('NOPE', 0, 1), false)
      })

      it('OTP replay: of 50 interleaved read-then-casCounter callers exactly one wins', () => races.casCounter(store))

      it('incrementFailcount returns successive values', async () => {
        await store.tokens.create(makeToken('F'))
        assert.equal(await store.tokens.incrementFailcount('F'), 1)
        assert.equal(await store.tokens.incrementFailcount('F'), 2)
        assert.equal(await store.tokens.incrementFailcount('NOPE'), undefined)
      })
      it('incrementFailcount is atomic under 50 interleaved callers', () => races.incrementFailcount(store))

      it('reserveAttempt: exactly the attempts left are granted; a locked token changes nothing', async () => {
        await store.tokens.create(makeToken('RA', { failcount: 8, maxfail: 10 }))
        assert.equal(await store.tokens.reserveAttempt('RA'), 9)
        assert.equal(await store.tokens.reserveAttempt('RA'), 10)
        assert.equal(await store.tokens.reserveAttempt('RA'), undefined, 'locked: nothing changes')
        assert.equal((await store.tokens.get('RA'))?.failcount, 10)
        assert.equal(await store.tokens.reserveAttempt('NOPE'), undefined)
      })
      it('OTP guessing: of 50 interleaved reserveAttempt callers exactly the attempts left are granted', () => races.reserveAttempt(store))
      it('releaseAttempt gives one back and never goes below 0', async () => {
        await store.tokens.create(makeToken('RL', { failcount: 1 }))
        await store.tokens.releaseAttempt('RL')
        await store.tokens.releaseAttempt('RL')
        assert.equal((await store.tokens.get('RL'))?.failcount, 0)
        await store.tokens.releaseAttempt('NOPE')
      })
      it('resetFailcount zeroes the given tokens only', async () => {
        await store.tokens.create(makeToken('R1', { failcount: 4 }))
        await store.tokens.create(makeToken('R2', { failcount: 5 }))
        await store.tokens.create(makeToken('R3', { failcount: 6 }))
        await store.tokens.resetFailcount(['R1', 'R3', 'NOPE'])
        await store.tokens.resetFailcount([])
        assert.deepEqual(await Promise.all(['R1', 'R2', 'R3'].map(async (s) => (await store.tokens.get(s))?.failcount)), [0, 5, 0])
      })

      it('replaceSeed sets the sealed seed only while it is still the expected one (key rotation)', async () => {
        await store.tokens.create(makeToken('RS1', { seed: 'v1:a', counter: 3, failcount: 1 }))
        assert.equal(await store.tokens.replaceSeed('RS1', 'v1:other', 'v1:b'), false)
        assert.equal(await store.tokens.replaceSeed('RS1', 'v1:a', 'v1:b'), true)
        assert.deepEqual(await store.tokens.get('RS1'), makeToken('RS1', { seed: 'v1:b', counter: 3, failcount: 1 }), 'nothing else changed')
        assert.equal(await store.tokens.replaceSeed('RS1', 'v1:a', 'v1:c'), false, 'a second writer with the old value loses')
        assert.equal(await store.tokens.replaceSeed('NOPE', 'v1:a', 'v1:c'), false)
      })

      it('removes a token; false when absent', async () => {
        await store.tokens.create(makeToken('DEL'))
        assert.equal(await store.tokens.remove('DEL'), true)
        assert.equal(await store.tokens.get('DEL'), undefined)
        assert.equal(await store.tokens.remove('DEL'), false)
        await store.tokens.create(makeToken('DEL'))
        assert.ok(await store.tokens.get('DEL'))
      })
    })

    describe('challenges', () => {
      it('creates and finds a challenge; duplicate ids are rejected with ERR_OTP_STORE', async () => {
        const c = makeChallenge('123456', 'S', { counter: 42, provider: '' })
        await store.challenges.create(c)
        assert.deepEqual(await store.challenges.findOpen('123456', NOW), [c])
        await assert.rejects(store.challenges.create(makeChallenge('123456', 'OTHER')), code('ERR_OTP_STORE'))
        assert.deepEqual(await store.challenges.findOpen('123456', NOW), [c])
      })

      it('copies records out', async () => {
        await store.challenges.create(makeChallenge('77', 'S'))
        const [c] = (await store.challenges.findOpen('77', NOW)) as Array<{ counter: number }>
        assert.ok(c)
        c.counter = 1000
        assert.equal((await store.challenges.findOpen('77', NOW))[0]?.counter, 1)
      })

      it('listOpen: a token\'s open challenges, newest first, expired excluded', async () => {
        await store.challenges.create(makeChallenge('1', 'S', { createdAt: NOW - 3 * MIN }))
        await store.challenges.create(makeChallenge('2', 'S', { createdAt: NOW - MIN }))
        await store.challenges.create(makeChallenge('3', 'S', { createdAt: NOW - 2 * MIN }))
        await store.challenges.create(makeChallenge('4', 'S', { createdAt: NOW - 10 * MIN, expiresAt: NOW - MIN }))
        await store.challenges.create(makeChallenge('5', 'OTHER'))
        await store.challenges.create(makeChallenge('6', 'S', { createdAt: NOW - 4 * MIN, expiresAt: NOW }))
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW)), ['2', '3', '1', '6'])
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW + 1)), ['2', '3', '1'])
        assert.deepEqual(ids(await store.challenges.listOpen('NOPE', NOW)), [])
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW, 1)), ['2'], 'limit 1: the newest')
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW, 3)), ['2', '3', '1'])
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW + 1, 10)), ['2', '3', '1'])
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW, 0)), [])
        await assert.rejects(store.challenges.listOpen('S', NOW, -1), invalidOption)
        await assert.rejects(store.challenges.listOpen('S', NOW, 1.5), invalidOption)
      })

      it('findOpen: exact id, base id widens to its sub ids, a sub id matches only itself', async () => {
        for (const id of ['1000', '1000.01', '1000.02', '10000', '100', '2000.01', '2000.02']) await store.challenges.create(makeChallenge(id, 'S'))
        await store.challenges.create(makeChallenge('1000.03', 'S', { expiresAt: NOW - 1 }))
        const find = async (id: string) => ids(await store.challenges.findOpen(id, NOW))
        assert.deepEqual((await find('1000')).sort(), ['1000', '1000.01', '1000.02'])
        assert.deepEqual(await find('1000.01'), ['1000.01'])
        assert.deepEqual(await find('1000.03'), [])
        assert.deepEqual((await find('2000')).sort(), ['2000.01', '2000.02'])
        assert.deepEqual(await find('100'), ['100'])
        assert.deepEqual(await find('999'), [])
        assert.deepEqual(await find('1000.0'), [])
      })

      it('findOpen: hostile ids (LIKE wildcards, SQL) match nothing', async () => {
        for (const id of ['1000', '1000.01', '2000']) await store.challenges.create(makeChallenge(id, 'S'))
        for (const hostile of ['%', '_', '1%', '100_', '1000.%', '1000._1', '1000%', "' OR 1=1 --", "1000' OR '1'='1", '*', '', '.', '\\%']) {
          assert.deepEqual(await store.challenges.findOpen(hostile, NOW), [], `findOpen(${JSON.stringify(hostile)})`)
        }
        assert.equal((await store.challenges.findOpen('1000', NOW)).length, 2)
      })

      it('consume removes once; false when absent', async () => {
        await store.challenges.create(makeChallenge('9', 'S'))
        assert.equal(await store.challenges.consume('9'), true)
        assert.equal(await store.challenges.consume('9'), false)
        assert.equal(await store.challenges.consume('NOPE'), false)
        assert.deepEqual(await store.challenges.findOpen('9', NOW), [])
      })

      it('OTP replay: of 50 interleaved consume callers exactly one wins', () => races.consume(store))

      it('settle changes provider and expiry in place; false when the challenge is gone', async () => {
        await store.challenges.create(makeChallenge('40', 'S', { provider: 'first', counter: 3 }))
        assert.equal(await store.challenges.settle('40', { provider: 'second', expiresAt: NOW + 9 * MIN }), true)
        assert.deepEqual(await store.challenges.findOpen('40', NOW), [makeChallenge('40', 'S', { provider: 'second', counter: 3, expiresAt: NOW + 9 * MIN })])
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW + 8 * MIN)), ['40'], 'the new expiry counts')
        await store.challenges.consume('40')
        assert.equal(await store.challenges.settle('40', { provider: 'x', expiresAt: NOW }), false)
        assert.deepEqual(await store.challenges.findOpen('40', NOW), [], 'settle never re-creates a consumed challenge')
        assert.equal(await store.challenges.settle('NOPE', { provider: 'x', expiresAt: NOW }), false)
      })

      it('lost OTP: a challenge is never absent while it is settled, for 50 interleaved readers', () => races.settle(store))

      it('removeUpTo removes the token\'s challenges up to a counter only', async () => {
        await store.challenges.create(makeChallenge('1', 'A', { counter: 4 }))
        await store.challenges.create(makeChallenge('2', 'A', { counter: 5 }))
        await store.challenges.create(makeChallenge('3', 'A', { counter: 6 }))
        await store.challenges.create(makeChallenge('4', 'B', { counter: 1 }))
        await store.challenges.removeUpTo('A', 5)
        await store.challenges.removeUpTo('NOPE', 100)
        assert.deepEqual(ids(await store.challenges.listOpen('A', NOW)), ['3'])
        assert.deepEqual(ids(await store.challenges.listOpen('B', NOW)), ['4'])
        assert.equal(await store.challenges.consume('2'), false)
      })

      it('issue inserts the challenge and advances the counter together; false, changing nothing, when the counter moved', async () => {
        await store.tokens.create(makeToken('IS', { counter: 4, failcount: 2 }))
        const c = makeChallenge('8001', 'IS', { counter: 5 })
        assert.equal(await store.challenges.issue(c, 4), true)
        assert.deepEqual(await store.challenges.findOpen('8001', NOW), [c])
        assert.deepEqual(await store.tokens.get('IS'), makeToken('IS', { counter: 5, failcount: 2 }), 'counter advanced, failcount kept without releaseAttempt')
        assert.equal(await store.challenges.issue(makeChallenge('8002', 'IS', { counter: 5 }), 4), false, 'a stale expected counter loses')
        assert.deepEqual(await store.challenges.findOpen('8002', NOW), [], 'the loser inserted nothing')
        assert.equal((await store.tokens.get('IS'))?.counter, 5)
        assert.equal(await store.challenges.issue(makeChallenge('8003', 'NOPE', { counter: 1 }), 0), false, 'an absent token')
        assert.deepEqual(await store.challenges.findOpen('8003', NOW), [])
      })

      it('issue with releaseAttempt gives one attempt back in the same step, never below 0, and only when it issues', async () => {
        await store.tokens.create(makeToken('IR', { counter: 0, failcount: 3 }))
        assert.equal(await store.challenges.issue(makeChallenge('8101', 'IR', { counter: 1 }), 0, { releaseAttempt: true }), true)
        assert.equal((await store.tokens.get('IR'))?.failcount, 2)
        assert.equal(await store.challenges.issue(makeChallenge('8102', 'IR', { counter: 1 }), 0, { releaseAttempt: true }), false)
        assert.equal((await store.tokens.get('IR'))?.failcount, 2, 'a refused issue releases nothing')
        await store.tokens.create(makeToken('IZ', { counter: 0, failcount: 0 }))
        assert.equal(await store.challenges.issue(makeChallenge('8103', 'IZ', { counter: 1 }), 0, { releaseAttempt: true }), true)
        assert.equal((await store.tokens.get('IZ'))?.failcount, 0)
      })

      it('issue with a taken transaction id rejects with ERR_OTP_STORE and changes nothing', async () => {
        await store.tokens.create(makeToken('ID', { counter: 7, failcount: 1 }))
        const old = makeChallenge('8201', 'OTHER', { counter: 3 })
        await store.challenges.create(old)
        await assert.rejects(store.challenges.issue(makeChallenge('8201', 'ID', { counter: 8 }), 7, { releaseAttempt: true }), code('ERR_OTP_STORE'))
        assert.deepEqual(await store.tokens.get('ID'), makeToken('ID', { counter: 7, failcount: 1 }), 'counter and failcount unchanged')
        assert.deepEqual(await store.challenges.findOpen('8201', NOW), [old])
        assert.equal(await store.challenges.issue(makeChallenge('8202', 'ID', { counter: 8 }), 7), true, 'the same counter can be issued under another id')
      })

      it('one SMS per counter: of 50 interleaved issue callers with the same expected counter exactly one issues', () => races.issue(store))

      it('accept moves the counter past the OTP and removes challenges up to it, keeping later ones; false, changing nothing, when the counter moved', async () => {
        await store.tokens.create(makeToken('AC', { counter: 4, failcount: 2 }))
        for (const [id, counter] of [['9001', 4], ['9002', 5], ['9003', 6]] as const) await store.challenges.create(makeChallenge(id, 'AC', { counter }))
        await store.challenges.create(makeChallenge('9004', 'OTHER', { counter: 1 }))
        assert.equal(await store.challenges.accept('AC', 4, 5), true)
        assert.deepEqual(await store.tokens.get('AC'), makeToken('AC', { counter: 6, failcount: 2 }))
        assert.deepEqual(ids(await store.challenges.listOpen('AC', NOW)), ['9003'], 'the later challenge survives')
        assert.deepEqual(ids(await store.challenges.listOpen('OTHER', NOW)), ['9004'])
        assert.equal(await store.challenges.accept('AC', 4, 6), false, 'a stale expected counter loses')
        assert.deepEqual(ids(await store.challenges.listOpen('AC', NOW)), ['9003'], 'and removes nothing')
        assert.equal((await store.tokens.get('AC'))?.counter, 6)
        assert.equal(await store.challenges.accept('NOPE', 0, 1), false)
      })

      it('OTP replay: of 50 interleaved accept callers with the same expected counter exactly one wins', () => races.accept(store))

      it('removeForToken removes that token\'s challenges only', async () => {
        await store.challenges.create(makeChallenge('1', 'A'))
        await store.challenges.create(makeChallenge('2', 'A'))
        await store.challenges.create(makeChallenge('3', 'B'))
        await store.challenges.removeForToken('A')
        await store.challenges.removeForToken('NOPE')
        assert.deepEqual(ids(await store.challenges.listOpen('A', NOW)), [])
        assert.deepEqual(ids(await store.challenges.listOpen('B', NOW)), ['3'])
      })

      it('purgeExpired deletes expired challenges and counts them', async () => {
        await store.challenges.create(makeChallenge('1', 'S', { createdAt: NOW - 10 * MIN, expiresAt: NOW - 5 * MIN }))
        await store.challenges.create(makeChallenge('2', 'S', { createdAt: NOW - 10 * MIN, expiresAt: NOW - 1 }))
        // Made a minute before NOW: a zero lifetime would give the memory store's TTL (wall clock,
        // a memory bound) 1 ms, and a loaded machine would reclaim it before the purge runs.
        await store.challenges.create(makeChallenge('3', 'S', { createdAt: NOW - MIN, expiresAt: NOW }))
        await store.challenges.create(makeChallenge('4', 'S'))
        assert.equal(await store.challenges.purgeExpired(NOW), 2)
        assert.equal(await store.challenges.purgeExpired(NOW), 0)
        assert.equal(await store.challenges.consume('1'), false)
        assert.deepEqual(ids(await store.challenges.listOpen('S', NOW - 20 * MIN)).sort(), ['3', '4'])
      })

      it('countOpen counts the open challenges of every token, and only those', async () => {
        assert.equal(await store.challenges.countOpen(NOW), 0)
        await store.challenges.create(makeChallenge('1', 'A', { createdAt: NOW - 10 * MIN, expiresAt: NOW - 1 }))
        await store.challenges.create(makeChallenge('2', 'A', { createdAt: NOW - MIN, expiresAt: NOW }))
        await store.challenges.create(makeChallenge('3', 'B'))
        await store.challenges.create(makeChallenge('4.01', 'C'))
        assert.equal(await store.challenges.countOpen(NOW), 3, 'expiresAt === now is still open; expired ones are not counted')
        assert.equal(await store.challenges.countOpen(NOW + 1), 2)
        assert.equal(await store.challenges.consume('3'), true)
        assert.equal(await store.challenges.countOpen(NOW), 2)
        await store.challenges.removeForToken('C')
        assert.equal(await store.challenges.countOpen(NOW), 1)
      })
    })

    describe('settings', () => {
      it('puts, gets, replaces, lists per kind and deletes', async () => {
        assert.deepEqual(await store.settings.list('config'), new Map())
        await store.settings.put('config', 'b', '2')
        await store.settings.put('config', 'a', '{"x":"\'quoted\' ü"}')
        await store.settings.put('provider', 'a', 'ciphertext')
        await store.settings.put('config', 'empty', '')
        assert.equal(await store.settings.get('config', 'a'), '{"x":"\'quoted\' ü"}')
        assert.equal(await store.settings.get('config', 'empty'), '')
        assert.equal(await store.settings.get('policy', 'a'), undefined)
        await store.settings.put('config', 'b', '3')
        assert.deepEqual([...(await store.settings.list('config'))], [['a', '{"x":"\'quoted\' ü"}'], ['b', '3'], ['empty', '']])
        assert.deepEqual([...(await store.settings.list('provider'))], [['a', 'ciphertext']])
        assert.equal(await store.settings.delete('config', 'b'), true)
        assert.equal(await store.settings.delete('config', 'b'), false)
        assert.equal(await store.settings.get('config', 'b'), undefined)
        assert.equal(await store.settings.get('provider', 'a'), 'ciphertext')
      })

      it('keeps user resolver definitions (kind resolver) apart from the other kinds', async () => {
        await store.settings.batch([
          { kind: 'resolver', name: 'corp', value: '{"type":"ldap"}' },
          { kind: 'realm', name: 'corp', value: '{"resolvers":["corp"]}' },
        ])
        assert.deepEqual([...(await store.settings.list('resolver'))], [['corp', '{"type":"ldap"}']])
        assert.equal(await store.settings.get('realm', 'corp'), '{"resolvers":["corp"]}')
        assert.equal(await store.settings.get('provider', 'corp'), undefined)
        assert.equal(await store.settings.delete('resolver', 'corp'), true)
        assert.deepEqual([...(await store.settings.list('resolver'))], [])
      })

      it('batch applies puts and deletes together', async () => {
        await store.settings.put('policy', 'old', 'x')
        await store.settings.batch([
          { kind: 'policy', name: 'old', value: null },
          { kind: 'policy', name: 'new', value: 'y' },
          { kind: 'realm', name: 'example', value: 'z' },
          { kind: 'realm', name: 'absent', value: null },
        ])
        assert.deepEqual([...(await store.settings.list('policy'))], [['new', 'y']])
        assert.equal(await store.settings.get('realm', 'example'), 'z')
        await store.settings.batch([])
      })

      it('batch is all or nothing: an invalid later op leaves nothing written', async () => {
        await store.settings.put('config', 'keep', 'before')
        const ops = [
          { kind: 'config', name: 'keep', value: null },
          { kind: 'config', name: 'added', value: 'v' },
          { kind: 'bogus' as SettingsKind, name: 'x', value: 'y' },
        ] as const
        await assert.rejects(store.settings.batch(ops), invalidOption)
        assert.deepEqual([...(await store.settings.list('config'))], [['keep', 'before']])
        await assert.rejects(store.settings.batch([{ kind: 'config', name: 'added', value: 'v' }, { kind: 'config', name: 'n', value: 7 as unknown as string }]), invalidOption)
        assert.equal(await store.settings.get('config', 'added'), undefined)
      })

      it('putIfAbsent inserts only when nothing is stored and never replaces', async () => {
        assert.equal(await store.settings.putIfAbsent('config', 'k', 'first'), true)
        assert.equal(await store.settings.putIfAbsent('config', 'k', 'second'), false)
        assert.equal(await store.settings.get('config', 'k'), 'first')
        assert.equal(await store.settings.putIfAbsent('policy', 'k', 'other kind'), true)
        assert.equal(await store.settings.get('config', 'k'), 'first')
        await store.settings.put('config', 'empty', '')
        assert.equal(await store.settings.putIfAbsent('config', 'empty', 'x'), false, 'an empty value is a value')
        assert.equal(await store.settings.get('config', 'empty'), '')
        await store.settings.delete('config', 'k')
        assert.equal(await store.settings.putIfAbsent('config', 'k', 'again'), true)
        assert.equal(await store.settings.get('config', 'k'), 'again')
      })

      it('first writer wins: of 50 interleaved putIfAbsent callers with different values exactly one inserts and all read back its value', () => races.putIfAbsent(store))

      it('rejects an unknown kind', async () => {
        await assert.rejects(store.settings.putIfAbsent('bogus' as SettingsKind, 'a', 'b'), invalidOption)
        await assert.rejects(store.settings.put('bogus' as SettingsKind, 'a', 'b'), invalidOption)
        await assert.rejects(store.settings.get('bogus' as SettingsKind, 'a'), invalidOption)
        await assert.rejects(store.settings.list('bogus' as SettingsKind), invalidOption)
      })
    })
  })
}

/**
 * The race tests of the contract, exported so `stores.test.ts` can show that each one fails on a
 * store whose operation is not atomic. Callers are real async flows through `yieldingStore`
 * (they interleave between store calls, as they would over a network), and a barrier lines them
 * up so that every read happens before any write: a read-then-write backend cannot pass.
 */
export const races = {
  async casCounter(store: Store): Promise<void> {
    await store.tokens.create(makeToken('RACE', { counter: 10 }))
    const y = yieldingStore(store)
    const ready = barrier(50)
    const results = await times(50, async (i) => {
      const seen = (await y.tokens.get('RACE'))?.counter as number
      await ready()
      return y.tokens.casCounter('RACE', seen, seen + 1 + i)
    })
    assert.equal(results.filter(Boolean).length, 1, 'exactly one compare-and-set wins')
    assert.equal((await store.tokens.get('RACE'))?.counter, 11 + results.indexOf(true))
  },
  async incrementFailcount(store: Store): Promise<void> {
    await store.tokens.create(makeToken('F50'))
    const y = yieldingStore(store)
    const values = await times(50, () => y.tokens.incrementFailcount('F50'))
    assert.deepEqual([...values].sort((a, b) => (a ?? 0) - (b ?? 0)), Array.from({ length: 50 }, (_, i) => i + 1))
    assert.equal((await store.tokens.get('F50'))?.failcount, 50)
  },
  async reserveAttempt(store: Store): Promise<void> {
    await store.tokens.create(makeToken('RA50', { failcount: 7, maxfail: 10 }))
    const y = yieldingStore(store)
    const granted = (await times(50, () => y.tokens.reserveAttempt('RA50'))).filter((v) => v !== undefined)
    assert.deepEqual(granted.sort((a, b) => (a ?? 0) - (b ?? 0)), [8, 9, 10])
    assert.equal((await store.tokens.get('RA50'))?.failcount, 10)
  },
  async issue(store: Store): Promise<void> {
    await store.tokens.create(makeToken('ISS', { counter: 20, failcount: 1 }))
    const y = yieldingStore(store)
    const ready = barrier(50)
    const results = await times(50, async (i) => {
      const seen = (await y.tokens.get('ISS'))?.counter as number
      await ready()
      return y.challenges.issue(makeChallenge(`70${String(i).padStart(2, '0')}`, 'ISS', { counter: seen + 1 }), seen, { releaseAttempt: true })
    })
    assert.equal(results.filter(Boolean).length, 1, 'exactly one issue wins')
    assert.equal((await store.challenges.listOpen('ISS', NOW)).length, 1, 'exactly one challenge exists')
    assert.deepEqual(await store.tokens.get('ISS'), makeToken('ISS', { counter: 21, failcount: 0 }), 'one advance, one release')
  },
  async accept(store: Store): Promise<void> {
    await store.tokens.create(makeToken('ACC', { counter: 30 }))
    await store.challenges.create(makeChallenge('7100', 'ACC', { counter: 30 }))
    const y = yieldingStore(store)
    const ready = barrier(50)
    const results = await times(50, async () => {
      const seen = (await y.tokens.get('ACC'))?.counter as number
      await ready()
      return y.challenges.accept('ACC', seen, 30)
    })
    assert.equal(results.filter(Boolean).length, 1, 'exactly one accept wins')
    assert.equal((await store.tokens.get('ACC'))?.counter, 31)
  },
  async consume(store: Store): Promise<void> {
    await store.challenges.create(makeChallenge('555', 'S'))
    const y = yieldingStore(store)
    const results = await times(50, () => y.challenges.consume('555'))
    assert.equal(results.filter(Boolean).length, 1)
  },
  async settle(store: Store): Promise<void> {
    await store.challenges.create(makeChallenge('600', 'S', { provider: 'first' }))
    const y = yieldingStore(store)
    const seen = await times(50, async (i) => {
      if (i % 10 === 0) {
        await y.challenges.settle('600', { provider: `p${i}`, expiresAt: NOW + 10 * MIN })
        return 1
      }
      return (await y.challenges.listOpen('S', NOW)).length
    })
    assert.deepEqual(seen.filter((n) => n !== 1), [], 'a reader found the challenge missing while it was settled')
  },
  async putIfAbsent(store: Store): Promise<void> {
    const y = yieldingStore(store)
    const ready = barrier(50)
    const results = await times(50, async (i) => {
      await y.settings.get('config', 'first') // every caller finds it absent before anyone writes
      await ready()
      const inserted = await y.settings.putIfAbsent('config', 'first', `v${i}`)
      return { inserted, value: `v${i}`, readBack: await y.settings.get('config', 'first') }
    })
    const winners = results.filter((r) => r.inserted)
    assert.equal(winners.length, 1, 'exactly one caller inserts')
    assert.deepEqual(new Set(results.map((r) => r.readBack)), new Set([winners[0]?.value]), 'every caller reads back the winner\'s value')
    assert.equal(await store.settings.get('config', 'first'), winners[0]?.value)
  },
}
