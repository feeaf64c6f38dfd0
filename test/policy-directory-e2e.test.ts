/**
 * The `resolver:` and `#attr` policy user forms on the verify path: the user's directory entry is
 * looked up (only when a policy needs it) and chooses the SMS provider like any other condition.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { functionResolver } from '../src/users/index.js'
import { startHarness, type Harness } from './helpers/harness.js'
import { check, fileProvider, policy, readOutbox } from './helpers/validate-helpers.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

async function start(down = false): Promise<{ h: Harness; finds: () => number }> {
  let n = 0
  const dir = (name: string, users: Record<string, Record<string, string>>) =>
    functionResolver({
      name,
      find: async (login) => {
        n++
        if (down) throw new Error('connect ECONNREFUSED')
        const attributes = users[login]
        return attributes && { login, attributes }
      },
    })
  h = await startHarness({ users: { realms: { example: [dir('staff', { alice: { department: 'it' } }), dir('contractors', { bob: { department: 'ops' } })] } } })
  await h.otp.tokens.init({ user: 'alice', realm: 'example', phone: '+4915112345678', pin: '1234', serial: 'LSSM0001' })
  await h.otp.tokens.init({ user: 'bob', realm: 'example', phone: '+4915187654321', pin: '5678', serial: 'LSSM0002' })
  return { h, finds: () => n }
}

describe('policies by resolver and directory attribute on /validate/check', () => {
  it('no policy needs the directory: no lookup at all', async () => {
    const { h, finds } = await start()
    await check(h, { user: 'alice', pass: '1234' })
    assert.equal(finds(), 0)
  })

  it('`contractors:` sends bob through its own provider; alice keeps the default', async () => {
    const { h } = await start()
    const other = await fileProvider(h, 'contractor-gw')
    await policy(h, 'by-resolver', 'sms_provider=contractor-gw', { user: 'contractors:' })
    await check(h, { user: 'bob', pass: '5678' })
    await check(h, { user: 'alice', pass: '1234' })
    assert.deepEqual((await readOutbox(other)).map((m) => m.phone), ['+4915187654321'])
    assert.deepEqual((await h.sms()).map((m) => m.phone), ['+4915112345678'])
  })

  it('`#department==it` picks alice by attribute', async () => {
    const { h } = await start()
    const it = await fileProvider(h, 'it-gw')
    await policy(h, 'by-attr', 'sms_provider=it-gw', { user: '#department==it' })
    await check(h, { user: 'alice', pass: '1234' })
    await check(h, { user: 'bob', pass: '5678' })
    assert.deepEqual((await readOutbox(it)).map((m) => m.phone), ['+4915112345678'])
  })

  it('a directory that cannot answer makes the check an internal error, judged under no policy', async () => {
    const { h } = await start(true)
    await policy(h, 'by-resolver', 'otppin=only_otp', { user: 'contractors:' })
    const r = await h.otp.check({ user: 'bob', pass: '5678' })
    assert.equal(r.internalError, true)
    assert.equal(r.error?.code, 'ERR_OTP_DIRECTORY')
    assert.equal((await h.sms()).length, 0)
  })
})
