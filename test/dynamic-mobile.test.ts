/**
 * Policy `sms_dynamic_mobile_number` (LinOTP §1.6 step 7): the SMS goes to the owner's directory
 * `mobile` instead of the token phone; the token phone only when the directory has none.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { functionResolver } from '../src/users/index.js'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import { ALICE_PHONE, check, policy } from './helpers/validate-helpers.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const NEW_MOBILE = '+4917699887766'

async function start(mobile: string | undefined | Error): Promise<Harness> {
  const find = async (login: string) => {
    if (mobile instanceof Error) throw mobile
    return login === 'alice' ? { login, attributes: mobile === undefined ? {} : { mobile } } : undefined
  }
  h = await startHarness({ users: { realms: { example: [functionResolver({ name: 'app', find })] } } })
  await enrolAlice(h)
  return h
}

describe('sms_dynamic_mobile_number', () => {
  it('sends to the directory mobile under the policy, to the token phone without it', async () => {
    const h = await start(NEW_MOBILE)
    await check(h, { user: 'alice', pass: '1234' })
    assert.equal((await h.sms()).at(-1)?.phone, ALICE_PHONE)
    h.clock.advance(60_000)
    await policy(h, 'dyn', 'sms_dynamic_mobile_number')
    const r = await h.otp.check({ user: 'alice', pass: '1234' })
    assert.equal((await h.sms()).at(-1)?.phone, NEW_MOBILE)
    assert.match(r.sms?.maskedPhone ?? '', /7766$/, 'the masked phone is where the SMS went')
  })

  it('falls back to the token phone when the directory has no (usable) mobile', async () => {
    for (const mobile of [undefined, 'not a number']) {
      const h = await start(mobile)
      await policy(h, 'dyn', 'sms_dynamic_mobile_number')
      await check(h, { user: 'alice', pass: '1234' })
      assert.equal((await h.sms()).at(-1)?.phone, ALICE_PHONE)
      await h.close()
    }
    h = undefined
  })

  it('a directory that cannot answer sends nothing (a stale number is no safe fallback)', async () => {
    const h = await start(new Error('connect ECONNREFUSED'))
    await policy(h, 'dyn', 'sms_dynamic_mobile_number')
    const r = await h.otp.check({ user: 'alice', pass: '1234' })
    assert.equal(r.internalError, true)
    assert.equal((await h.sms()).length, 0)
    // The challenge made for it was withdrawn: the next try sends at once.
    assert.equal((await h.otp.tokens.show({ serial: 'LSSM0001' }))[0]?.failcount, 0)
  })
})
