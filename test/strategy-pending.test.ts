/**
 * The login faces' framework-free state machine (src/login/pending.ts): transitions, and the two
 * homes behind one interface.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { afterWrong, begin, handleHome, HANDLE_PATTERN, judge, secondsUntilResend, sessionHome, type Pending } from '../src/login/pending.js'

const base = { user: 'alice', realm: 'example', transactionId: '12345678901234567', now: 1_000_000, ttlMs: 300_000, resendMs: 30_000 }

describe('pending state machine', () => {
  it('begin: a new challenge starts fresh; the same open challenge keeps attempts and resend time', () => {
    const p = begin(undefined, base)
    assert.deepEqual(p, { user: 'alice', realm: 'example', transactionId: base.transactionId, expiresAt: 1_300_000, resendAt: 1_030_000, attempts: 0 })
    const wrong = afterWrong(p, 3) as Pending
    const again = begin(wrong, { ...base, now: 1_010_000 })
    assert.equal(again.attempts, 1)
    assert.equal(secondsUntilResend(again, 1_010_000), 20)
    assert.equal(begin(wrong, { ...base, transactionId: '76543210987654321' }).attempts, 0, 'another challenge')
    assert.equal(begin(wrong, { ...base, user: 'bob' }).attempts, 0, 'another user')
  })

  it('judge: expiry, attempts, and the transaction id of this browser only', () => {
    const p = begin(undefined, base)
    assert.equal(judge(p, base.now, undefined, 3), 'ok')
    assert.equal(judge(p, base.now, base.transactionId, 3), 'ok')
    assert.equal(judge(p, base.now, '12345678901234568', 3), 'mismatch')
    assert.equal(judge(p, base.now, '1', 3), 'mismatch')
    assert.equal(judge(p, p.expiresAt, undefined, 3), 'expired')
    assert.equal(judge({ ...p, attempts: 3 }, base.now, undefined, 3), 'exhausted')
    assert.equal(afterWrong({ ...p, attempts: 2 }, 3), undefined, 'the last attempt ends in none')
  })

  it('session home: fixed key, take consumes, a missing session is a coded error', () => {
    const home = sessionHome('smsOtp')
    const session: Record<string, unknown> = {}
    const p = begin(undefined, base)
    assert.equal(home.put({ session }, p), undefined)
    assert.deepEqual(session.smsOtp, p)
    assert.deepEqual(home.peek({ session }), p)
    assert.deepEqual(home.take({ session }), p)
    assert.equal(home.take({ session }), undefined)
    session.smsOtp = { user: 'alice' } // tampered or from an older release: ignored
    assert.equal(home.peek({ session }), undefined)
    assert.throws(() => home.peek({}), (err: TypeError & { code?: string }) => err.code === 'ERR_OTP_INVALID_OPTION' && /express-session/.test(err.message))
  })

  it('handle home: 256-bit handles, one record per handle, bounded', () => {
    const home = handleHome({ max: 2 })
    const p = begin(undefined, base)
    const handles = new Set<string>()
    for (let i = 0; i < 3; i++) handles.add(home.put({}, { ...p, attempts: i }) as string)
    assert.equal(handles.size, 3)
    for (const h of handles) assert.match(h, HANDLE_PATTERN)
    const [oldest, second, newest] = [...handles] as [string, string, string]
    assert.equal(home.peek({ handle: oldest }), undefined, 'evicted: the LRU holds at most max records')
    assert.equal(home.take({ handle: second })?.attempts, 1)
    assert.equal(home.take({ handle: second }), undefined, 'taken once')
    assert.equal(home.peek({ handle: newest })?.attempts, 2)
    assert.equal(home.peek({ handle: 'A'.repeat(43) }), undefined)
    assert.equal(home.peek({ handle: `${newest}x` }), undefined, 'malformed handles are never looked up')
    // A handle this request took is kept after a wrong answer; anything else gets a fresh one.
    assert.equal(home.put({}, p, second), second)
    assert.notEqual(home.put({}, p, 'short'), 'short')
  })

  it('bad home options are coded TypeErrors', () => {
    assert.throws(() => handleHome({ max: 0 }), { code: 'ERR_OTP_INVALID_OPTION' })
    assert.throws(() => handleHome({ ttlMs: -1 }), { code: 'ERR_OTP_INVALID_OPTION' })
  })
})
