import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ADMIN_TOKEN, enrolAlice, startHarness, type Harness } from './helpers/harness.js'

describe('admin API authentication', () => {
  it('with no admin token configured, /admin and /system answer 404', async () => {
    const h = await startHarness({ adminToken: undefined })
    try {
      for (const path of ['/admin/show', '/admin/init', '/system/getConfig', '/system/setProvider']) {
        const r = await h.post(path, {}, { authorization: `Bearer ${ADMIN_TOKEN}` })
        assert.equal(r.status, 404, path)
        assert.equal(r.body.result.error.code, 'ERR_OTP_NOT_FOUND')
      }
    } finally {
      await h.close()
    }
  })

  it('an admin token shorter than 16 characters is a programming error', async () => {
    await assert.rejects(startHarness({ adminToken: 'short-token' }), (e: unknown) => (e as { code?: string }).code === 'ERR_OTP_INVALID_OPTION')
  })

  let h: Harness
  before(async () => {
    h = await startHarness()
  })
  after(() => h.close())

  const refusals: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['wrong token', { authorization: 'Bearer wrong-token-wrong-token' }],
    ['token prefix', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` }],
    ['basic scheme', { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }],
    ['token with a suffix', { authorization: `Bearer ${ADMIN_TOKEN}x` }],
  ]
  for (const [label, headers] of refusals) {
    it(`${label} → 401, nothing happens`, async () => {
      const r = await h.post('/admin/init', { user: 'mallory', phone: '+4915112345678' }, headers)
      assert.equal(r.status, 401)
      assert.equal(r.body.result.error.code, 'ERR_OTP_UNAUTHORIZED')
      assert.deepEqual(await h.otp.tokens.show({ user: 'mallory' }), [])
    })
  }
  it('the validate endpoints need no admin token', async () => {
    const r = await h.post('/validate/check', { user: 'nobody', pass: 'x' })
    assert.equal(r.status, 200)
    assert.equal(r.body.result.value, false)
  })
})

describe('admin token and provider operations', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
  })
  after(() => h.close())

  it('init returns only the serial; show never returns the seed or the PIN hash', async () => {
    const serial = await enrolAlice(h)
    const shown = await h.admin('/admin/show', { serial })
    const text = JSON.stringify(shown.body)
    assert.equal(shown.body.result.value.resultset.tokens, 1)
    assert.equal(shown.body.result.value.data[0]['LinOtp.TokenSerialnumber'], serial)
    // The library answers typed camelCase; LinOTP's names are for the wire only.
    const [info] = await h.otp.tokens.show({ serial })
    assert.deepEqual({ serial: info?.serial, user: info?.user, phone: info?.phone, otplen: info?.otplen }, { serial, user: 'alice', phone: '+4915112345678', otplen: 6 })
    assert.equal(Object.keys(info ?? {}).some((k) => k.startsWith('LinOtp')), false)
    assert.ok(!text.includes('3132333435'), 'no seed')
    assert.ok(!/v1[:$]/.test(text), 'no ciphertext and no PIN hash')
    const stored = await h.otp.core.store.tokens.get(serial)
    assert.ok(stored && !stored.seed.includes('3132333435'), 'the seed is encrypted at rest')
    assert.ok(stored.pinHash !== null && !stored.pinHash.includes('1234'), 'the PIN is hashed')
  })
  it('a second init with the same serial is refused and changes nothing', async () => {
    const r = await h.admin('/admin/init', { user: 'bob', phone: '+4915112345679', serial: 'LSSM0001' })
    assert.equal(r.status, 400)
    assert.equal(r.body.result.error.code, 'ERR_OTP_TOKEN_EXISTS')
    const [view] = await h.otp.tokens.show({ serial: 'LSSM0001' })
    assert.equal(view?.user, 'alice')
  })
  it('disable / enable / set / reset / remove by serial', async () => {
    assert.equal((await h.admin('/admin/disable', { serial: 'LSSM0001' })).body.result.value, 1)
    const sent = (await h.sms()).length
    assert.equal((await h.post('/validate/check', { user: 'alice', pass: '1234' })).body.detail, undefined, 'inactive: no challenge')
    assert.equal((await h.sms()).length, sent, 'inactive: no SMS in the outbox')
    assert.equal((await h.admin('/admin/enable', { serial: 'LSSM0001' })).body.result.value, 1)
    assert.equal((await h.admin('/admin/set', { serial: 'LSSM0001', MaxFailCount: '3', phone: '+4915112345670' })).body.result.value, 1)
    const [view] = await h.otp.tokens.show({ serial: 'LSSM0001' })
    assert.equal(view?.maxfail, 3)
    assert.equal(view?.phone, '+4915112345670')
    const failcount = async () => (await h.otp.tokens.show({ serial: 'LSSM0001' }))[0]?.failcount
    await h.post('/validate/check', { user: 'alice', pass: '1234000000' }) // PIN + a wrong OTP: counted
    await h.post('/validate/check', { user: 'alice', pass: '9999' }) // wrong PIN: counted
    assert.equal(await failcount(), 2, 'two failures before the reset')
    assert.equal((await h.admin('/admin/reset', { serial: 'LSSM0001' })).body.result.value, 1)
    assert.equal(await failcount(), 0, 'reset clears the failcount')
  })
  it('set with nothing to set, or an unknown serial, is a clear error', async () => {
    const none = await h.admin('/admin/set', { serial: 'LSSM0001' })
    assert.equal(none.body.result.error.code, 'ERR_OTP_INVALID_PARAMETER')
    const unknown = await h.admin('/admin/remove', { serial: 'NOPE' })
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.result.error.code, 'ERR_OTP_TOKEN_NOT_FOUND')
  })

  it('setProvider needs name, class and timeout', async () => {
    const noTimeout = await h.admin('/system/setProvider', { name: 'x', type: 'sms', class: 'FileSMSProvider', config: '{"file":"/tmp/x"}' })
    assert.match(noTimeout.body.result.error.message, /missing key 'timeout'/)
    const noClass = await h.admin('/system/setProvider', { name: 'x', type: 'sms', timeout: '60', config: '{"file":"/tmp/x"}' })
    assert.match(noClass.body.result.error.message, /Missing parameter: 'class'/)
    assert.deepEqual(h.otp.providers.list().map((p) => p.name), ['outbox'])
  })
  it('the first provider is the default; delProvider refuses the default while others exist', async () => {
    await h.admin('/system/setProvider', { name: 'second', type: 'sms', class: 'FileSMSProvider', config: `{"file":"${h.dir}/second.log"}`, timeout: '60' })
    const got = await h.admin('/system/getProvider', { type: 'sms' })
    assert.equal(got.body.result.value.outbox.Default, true)
    assert.equal(got.body.result.value.second.Default, false)
    assert.equal(got.body.result.value.second.Timeout, '60')
    const del = await h.admin('/system/delProvider', { type: 'sms', name: 'outbox' })
    assert.equal(del.body.result.value, false)
    assert.equal(del.body.detail.message, 'Default provider could not be deleted!')
  })
  it('delProvider refuses a provider named anywhere in a policy list (Decision 8)', async () => {
    await h.admin('/system/setPolicy', { name: 'p1', scope: 'authentication', action: 'sms_provider=outbox second', realm: '*', user: '*', client: '*' })
    const del = await h.admin('/system/delProvider', { type: 'sms', name: 'second' })
    assert.equal(del.body.result.value, false)
    assert.equal(del.body.detail.message, 'Unable to delete - provider used in policies!\n[p1]')
    await h.admin('/system/delPolicy', { name: 'p1' })
    assert.equal((await h.admin('/system/delProvider', { type: 'sms', name: 'second' })).body.result.value, true)
  })
  it('setDefaultProvider refuses an unknown name', async () => {
    const r = await h.admin('/system/setDefaultProvider', { type: 'sms', name: 'ghost' })
    assert.equal(r.body.result.value, false)
    assert.equal(r.body.detail.message, "Unknown provider! 'ghost'")
  })
  it('testProvider sends through one provider', async () => {
    const r = await h.admin('/system/testProvider', { name: 'outbox', phone: '+4915112345678' })
    assert.equal(r.body.result.value, true)
    assert.equal((await h.sms()).at(-1)?.text, 'sms-otp test message')
    const bad = await h.admin('/system/testProvider', { name: 'outbox', phone: 'AT+CMGS' })
    assert.equal(bad.body.result.error.code, 'ERR_OTP_INVALID_PHONE')
  })
  it('config keys: set, get, delete; typed keys are checked; provider keys are refused', async () => {
    const set = await h.admin('/system/setConfig', { SMSBlockingTimeout: '45', 'custom.key': 'x' })
    assert.deepEqual(set.body.result.value, { 'setConfig SMSBlockingTimeout:45': true, 'setConfig custom.key:x': true })
    assert.equal((await h.admin('/system/getConfig', { key: 'SMSBlockingTimeout' })).body.result.value['getConfig SMSBlockingTimeout'], '45')
    for (const [key, value, message] of [
      ['SMSBlockingTimeout', 'soon', /expected an integer/],
      ['DefaultOtpLen', '7', /expected one of 6, 8/],
      ['mayOverwriteClient', '10.0.0.0/99', /not an IP address or CIDR/],
      ['SMSProviderConfig', '{}', /use \/system\/setProvider/],
    ] as const) {
      const r = await h.admin('/system/setConfig', { [key]: value })
      assert.equal(r.status, 400, key)
      assert.match(r.body.result.error.message, message, key)
    }
    const soft = await h.admin('/system/setConfig', { PrependPin: 'yes' })
    assert.equal(soft.status, 200, 'Decision 9: stored, reads as false')
    assert.deepEqual(soft.body.detail.warnings, ["config key PrependPin: 'yes' is not true, True or 1, so it reads as false"])
    assert.equal(h.otp.core.settings.config.bool('PrependPin'), false)
    await h.admin('/system/delConfig', { key: 'PrependPin' })
    const delRefused = await h.admin('/system/delConfig', { key: 'Provider.Default.sms_provider' })
    assert.match(delRefused.body.result.error.message, /use \/system\/delProvider/)
    assert.deepEqual((await h.admin('/system/delConfig', { key: 'custom.key' })).body.result.value, { 'delConfig custom.key': true })
  })

  it('revokeDevices: per user or all=true, audited; neither is a 400', async () => {
    const { deviceEpoch } = await import('../src/login/devices.js')
    const store = h.otp.core.store.settings
    const alice = { user: 'alice', realm: 'example' }
    const bob = { user: 'bob', realm: 'example' }
    const [alice0, bob0] = [await deviceEpoch(store, alice), await deviceEpoch(store, bob)]
    assert.equal((await h.admin('/admin/revokeDevices', { user: 'alice', realm: 'example' })).body.result.value, true)
    assert.notEqual(await deviceEpoch(store, alice), alice0)
    assert.equal(await deviceEpoch(store, bob), bob0)
    assert.equal((await h.admin('/admin/revokeDevices', { all: 'true' })).body.result.value, true)
    assert.notEqual(await deviceEpoch(store, bob), bob0)
    assert.equal((await h.admin('/admin/revokeDevices', {})).status, 400)
    assert.equal(h.audit.filter((r) => r.action === 'remembered devices revoked').length >= 2, true)
  })
})

describe('/admin/show paging and /admin/init re-enrolment', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    // 1,205 tokens: more than the old silent 1,000 cap.
    for (let i = 0; i < 1205; i++) await h.otp.tokens.init({ user: `p${String(i).padStart(4, '0')}`, realm: 'example', phone: '+4915112345678', serial: `PG${String(i).padStart(4, '0')}` })
  })
  after(() => h.close())

  it('without paging parameters: the first 1,000 and the true total, pages and page size', async () => {
    const r = await h.admin('/admin/show', {})
    assert.equal(r.status, 200)
    assert.deepEqual(r.body.result.value.resultset, { tokens: 1205, pages: 2, pagesize: 1000, page: 1 })
    assert.equal(r.body.result.value.data.length, 1000)
  })

  it('page and pagesize (LinOTP psize too) walk every token once, in serial order', async () => {
    const seen: string[] = []
    for (let page = 1; page <= 13; page++) {
      const r = await h.admin('/admin/show', { page: String(page), pagesize: '100' })
      assert.deepEqual(r.body.result.value.resultset, { tokens: 1205, pages: 13, pagesize: 100, page })
      seen.push(...r.body.result.value.data.map((t: Record<string, string>) => t['LinOtp.TokenSerialnumber']))
    }
    assert.equal(seen.length, 1205)
    assert.equal(new Set(seen).size, 1205)
    assert.deepEqual(seen, [...seen].sort())
    const psize = await h.admin('/admin/show', { page: '2', psize: '5' })
    assert.deepEqual(psize.body.result.value.data.map((t: Record<string, string>) => t['LinOtp.TokenSerialnumber']), ['PG0005', 'PG0006', 'PG0007', 'PG0008', 'PG0009'])
    const past = await h.admin('/admin/show', { page: '99', pagesize: '100' })
    assert.equal(past.body.result.value.data.length, 0)
    assert.equal(past.body.result.value.resultset.tokens, 1205)
    const realm = await h.admin('/admin/show', { realm: 'example', pagesize: '10', page: '121' })
    assert.deepEqual(realm.body.result.value.data.map((t: Record<string, string>) => t['LinOtp.TokenSerialnumber']), ['PG1200', 'PG1201', 'PG1202', 'PG1203', 'PG1204'])
    for (const bad of [{ page: '0' }, { page: 'x' }, { pagesize: '0' }, { pagesize: '10001' }, { page: '-1' }]) {
      const r = await h.admin('/admin/show', bad)
      assert.equal(r.status, 400, JSON.stringify(bad))
      assert.equal(r.body.result.error.code, 'ERR_OTP_INVALID_PARAMETER')
    }
  })

  it('the library pages with limit and offset and reports the total', async () => {
    const page = await h.otp.tokens.show({ limit: 3, offset: 1200 })
    assert.deepEqual(page.map((t) => t.serial), ['PG1200', 'PG1201', 'PG1202'])
    assert.equal(page.total, 1205)
    assert.equal((await h.otp.tokens.show()).length, 1000, 'the default page is 1,000')
    await assert.rejects(h.otp.tokens.show({ limit: 0 }), /limit/)
  })

  it('threat: a second /admin/init without serial for a user who has a token is refused (no silent second token)', async () => {
    const first = await h.admin('/admin/init', { user: 'rita', realm: 'example', phone: '+4915112345678' })
    assert.equal(first.body.result.value, true)
    const again = await h.admin('/admin/init', { user: 'rita', realm: 'example', phone: '+4915112345679' })
    assert.equal(again.status, 400)
    assert.equal(again.body.result.error.code, 'ERR_OTP_TOKEN_EXISTS')
    assert.match(again.body.result.error.message, /user 'rita' has a token already \(LSSM[0-9A-F]{8}\): pass reenroll=true/)
    assert.equal((await h.otp.tokens.show({ user: 'rita', realm: 'example' })).length, 1, 'still one token')
    await assert.rejects(h.otp.tokens.init({ user: 'rita', realm: 'example', phone: '+4915112345679' }), (e: unknown) => (e as { code?: string }).code === 'ERR_OTP_TOKEN_EXISTS')
  })

  it('reenroll=true (or an explicit new serial) gives the user another token on purpose', async () => {
    const explicit = await h.admin('/admin/init', { user: 'rita', realm: 'example', phone: '+4915112345679', reenroll: 'true' })
    assert.equal(explicit.body.result.value, true)
    assert.equal((await h.otp.tokens.show({ user: 'rita', realm: 'example' })).length, 2)
    await h.otp.tokens.init({ user: 'rita', realm: 'example', phone: '+4915112345670', reenroll: true })
    const serial = await h.admin('/admin/init', { user: 'rita', realm: 'example', phone: '+4915112345671', serial: 'RITA4' })
    assert.equal(serial.body.result.value, true, 'a serial is explicit enough (LinOTP)')
    assert.equal((await h.otp.tokens.show({ user: 'rita', realm: 'example' })).length, 4)
    const sameRealmOther = await h.admin('/admin/init', { user: 'rita', realm: 'other', phone: '+4915112345678' })
    assert.equal(sameRealmOther.status === 200 || sameRealmOther.body.result.error.code !== 'ERR_OTP_TOKEN_EXISTS', true, 'another realm is another user')
  })
})
