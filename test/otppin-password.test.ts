/**
 * `otppin=password`: the PIN part of `pass` is the user's directory password (LinOTP §1.5),
 * through the realm's resolvers, on the one verify path. A directory that cannot answer is an
 * internal error, never a wrong PIN.
 */
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, it } from 'node:test'
import { sha512Crypt } from '../src/users/crypt.js'
import { fileResolver, functionResolver } from '../src/users/index.js'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import { aliceOtp, auditOf, check, failcount, policy } from './helpers/validate-helpers.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

async function withDirectory(): Promise<Harness> {
  const path = join(await mkdtemp(join(tmpdir(), 'sms-otp-pw-')), 'users.json')
  await writeFile(path, JSON.stringify([{ login: 'alice', password: sha512Crypt('alice-password', '$6$rounds=5000$somesalt'), mobile: '+4915112345678' }]))
  h = await startHarness({ users: { realms: { example: [fileResolver({ name: 'local', path })] }, defaultRealm: 'example' } })
  await enrolAlice(h)
  await policy(h, 'pw', 'otppin=password')
  return h
}

describe('otppin=password', () => {
  it('the directory password triggers, password+OTP authenticates, the token PIN does not count', async () => {
    const h = await withDirectory()
    const first = await check(h, { user: 'alice', pass: 'alice-password' })
    assert.equal(first.body.detail?.message, 'sms submitted', JSON.stringify(first.body))
    assert.equal((await check(h, { user: 'alice', pass: `alice-password${aliceOtp(1)}` })).body.result.value, true)
    h.clock.advance(60_000)
    const tokenPin = await check(h, { user: 'alice', pass: '1234' })
    assert.equal(tokenPin.body.result.value, false)
    assert.equal(tokenPin.body.detail, undefined, 'the token PIN is not the password: no SMS')
    assert.equal(await failcount(h, 'LSSM0001'), 1)
  })

  it('a wrong password and an unknown user answer alike', async () => {
    const h = await withDirectory()
    const wrong = await check(h, { user: 'alice', pass: 'guess' })
    const unknown = await check(h, { user: 'mallory', pass: 'guess' })
    assert.deepEqual(unknown.body, wrong.body)
    assert.equal((await h.sms()).length, 0)
  })

  it('a directory that cannot answer is an internal error (audited with its cause), sends nothing and counts no attempt', async () => {
    h = await startHarness({
      users: { realms: { example: [functionResolver({ name: 'down', find: async () => { throw new Error('connect ECONNREFUSED') }, checkPassword: async () => { throw new Error('connect ECONNREFUSED') } })] } },
    })
    await enrolAlice(h)
    await policy(h, 'pw', 'otppin=password')
    const r = await check(h, { user: 'alice', pass: 'alice-password' })
    assert.equal(r.body.result.value, false)
    assert.equal((await h.sms()).length, 0)
    assert.match(auditOf(h, 'validate/check').at(-1)?.reason ?? '', /resolver 'down': the host's user lookup failed/)
    assert.equal(await failcount(h, 'LSSM0001'), 0, 'an outage uses up no attempt')
  })
})
