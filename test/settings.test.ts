import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Secrets, loadMasterKey } from '../src/crypto/secrets.js'
import { isOtpError } from '../src/errors.js'
import { createMemoryStore } from '../src/stores/memory.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'
import { ALICE_PIN, aliceOtp, check, policy } from './helpers/validate-helpers.js'

describe('legacy provider imported_default (spec §4.2–4.3)', () => {
  it('appears only when SMSProviderConfig exists; first listed and default', async () => {
    const store = createMemoryStore()
    await store.open()
    await store.settings.put('config', 'SMSProvider', 'smsprovider.HttpSMSProvider.HttpSMSProvider')
    const fresh = await createSmsOtp({ store, secrets: Secrets.ephemeral() })
    assert.deepEqual(fresh.providers.list(), [], 'a fresh DB seeds only SMSProvider: no provider')
    await store.settings.put('config', 'SMSProviderConfig', '{"URL":"http://127.0.0.1:9/send","RETURN_SUCCESS":"OK"}')
    await store.settings.put('config', 'SMSProviderTimeout', '300')
    await fresh.core.settings.load()
    const [legacy] = fresh.providers.list()
    assert.equal(legacy?.name, 'imported_default')
    assert.equal(legacy?.timeout, 300)
    assert.equal(legacy?.default, true)
    assert.equal(await store.settings.get('config', 'Provider.Default.sms_provider'), 'imported_default', 'persisted as default')
    await fresh.providers.set({ name: 'newer', className: 'FileSMSProvider', config: '{"file":"/tmp/x"}', timeout: 120 })
    assert.deepEqual(fresh.providers.list().map((p) => [p.name, p.default]), [['imported_default', true], ['newer', false]])
    await fresh.close()
  })

  it('saving imported_default writes the legacy keys (config encrypted); deleting removes them', async () => {
    const otp = await createSmsOtp()
    await otp.providers.set({ name: 'first', className: 'FileSMSProvider', config: '{"file":"/tmp/first"}', timeout: 120 })
    await otp.providers.set({ name: 'imported_default', className: 'HttpSMSProvider', config: '{"URL":"http://127.0.0.1:9/","PASSWORD":"gw-secret"}', timeout: 90 })
    const raw = await otp.core.store.settings.list('config')
    assert.equal(raw.get('SMSProvider'), 'HttpSMSProvider')
    assert.equal(raw.get('SMSProviderTimeout'), '90')
    assert.ok(!(raw.get('SMSProviderConfig') ?? '').includes('gw-secret'), 'stored encrypted')
    assert.equal(otp.providers.list().find((p) => p.name === 'imported_default')?.config, '{"URL":"http://127.0.0.1:9/","PASSWORD":"gw-secret"}')
    assert.equal(await otp.providers.delete('imported_default'), undefined)
    const after = await otp.core.store.settings.list('config')
    assert.ok(!after.has('SMSProvider') && !after.has('SMSProviderConfig') && !after.has('SMSProviderTimeout'))
    await otp.close()
  })

  it('provider configs are encrypted at rest', async () => {
    const otp = await createSmsOtp()
    await otp.providers.set({ name: 'gw', className: 'HttpSMSProvider', config: '{"URL":"http://127.0.0.1:9/","PASSWORD":"gw-secret"}', timeout: 120 })
    const stored = await otp.core.store.settings.get('provider', 'gw')
    assert.ok(stored && !stored.includes('gw-secret'))
    await otp.close()
  })
})

describe('detail_on_success and detail_on_fail (authorization scope)', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    await enrolAlice(h)
  })
  after(() => h.close())

  it('without the policies, answers carry no detail', async () => {
    const r = await check(h, { user: 'alice', pass: '9999' })
    assert.equal(r.body.detail, undefined)
  })
  it('detail_on_fail adds the audit reason', async () => {
    await h.admin('/system/setPolicy', { name: 'why', scope: 'authorization', action: 'detail_on_fail', realm: '*' })
    const r = await check(h, { user: 'alice', pass: '9999' })
    assert.deepEqual(r.body.detail, { error: 'LSSM0001: wrong otp pin' })
  })
  it('detail_on_success adds user, realm, token type and serial', async () => {
    await h.admin('/system/setPolicy', { name: 'who', scope: 'authorization', action: 'detail_on_success', realm: '*' })
    await h.admin('/admin/reset', { serial: 'LSSM0001' })
    await check(h, { user: 'alice', pass: ALICE_PIN })
    const r = await check(h, { user: 'alice', pass: ALICE_PIN + aliceOtp(1) })
    assert.equal(r.body.result.value, true)
    assert.deepEqual(r.body.detail, { user: { username: 'alice' }, realm: 'example', is_linotp_admin: false, tokentype: 'sms', serial: 'LSSM0001' })
  })
  it('a user-specific policy applies only to that user', async () => {
    await h.admin('/system/delPolicy', { name: 'why' })
    await policy(h, 'why', 'detail_on_fail', { scope: 'authorization', user: 'bob' })
    assert.equal((await check(h, { user: 'alice', pass: '9999' })).body.detail, undefined)
  })
})

describe('secrets at rest', () => {
  let dir = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-secrets-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('creates the key file with mode 0600 once, then reuses it', async () => {
    const file = join(dir, 'sub', 'sms-otp.key')
    const key = await loadMasterKey(file, {})
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.deepEqual(await loadMasterKey(file, {}), key)
    assert.match(await readFile(file, 'utf8'), /^[0-9a-f]{64}\n$/)
  })
  it('SMS_OTP_ENC_KEY (hex or base64) wins over the file; a bad one is refused', async () => {
    const hex = 'ab'.repeat(32)
    assert.deepEqual(await loadMasterKey(join(dir, 'none'), { SMS_OTP_ENC_KEY: hex }), Buffer.from(hex, 'hex'))
    assert.deepEqual(await loadMasterKey(join(dir, 'none'), { SMS_OTP_ENC_KEY: Buffer.from(hex, 'hex').toString('base64') }), Buffer.from(hex, 'hex'))
    await assert.rejects(loadMasterKey(join(dir, 'none'), { SMS_OTP_ENC_KEY: 'short' }), /32-byte key/)
    await writeFile(join(dir, 'bad.key'), 'not a key')
    await assert.rejects(loadMasterKey(join(dir, 'bad.key'), {}), /32-byte key/)
  })
  it('a seed is bound to its serial, and a wrong key or tampering fails loudly', () => {
    const a = Secrets.ephemeral()
    const seed = Buffer.from('3132333435363738393031323334353637383930', 'hex')
    const sealed = a.encryptSeed('S1', seed)
    assert.deepEqual(a.decryptSeed('S1', sealed), seed)
    assert.notEqual(a.encryptSeed('S1', seed), sealed, 'a fresh IV every time')
    const crypto = (e: unknown) => isOtpError(e, 'ERR_OTP_CRYPTO') && !e.message.includes('3132')
    assert.throws(() => a.decryptSeed('S2', sealed), crypto)
    assert.throws(() => Secrets.ephemeral().decryptSeed('S1', sealed), crypto)
    const parts = sealed.split(':')
    parts[3] = Buffer.from('tampered-ciphertext').toString('base64')
    assert.throws(() => a.decryptSeed('S1', parts.join(':')), crypto)
  })
  it('a truncated GCM tag is refused (no cheap forgery)', () => {
    const a = Secrets.ephemeral()
    const parts = a.encryptSeed('S1', Buffer.alloc(20, 1)).split(':')
    parts[2] = Buffer.from(parts[2] as string, 'base64').subarray(0, 4).toString('base64')
    assert.throws(() => a.decryptSeed('S1', parts.join(':')), (e: unknown) => isOtpError(e, 'ERR_OTP_CRYPTO') && /malformed IV or tag/.test(e.message))
  })
  it('a persistent store without secrets is a programming error (seeds would be lost at restart)', async () => {
    await assert.rejects(createSmsOtp({ store: createMemoryStore() }), (e: unknown) => (e as { code?: string }).code === 'ERR_OTP_INVALID_OPTION' && /secrets/.test((e as Error).message))
  })
  it('PIN hashes are salted and keyed; the empty PIN is "no PIN"', () => {
    const a = Secrets.ephemeral()
    const h1 = a.hashPin('1234')
    assert.ok(h1 !== null && h1 !== a.hashPin('1234'), 'salted')
    assert.equal(a.verifyPin('1234', h1), true)
    assert.equal(a.verifyPin('1235', h1), false)
    assert.equal(Secrets.ephemeral().verifyPin('1234', h1), false, 'keyed by the server secret')
    assert.equal(a.hashPin(''), null)
    assert.equal(a.verifyPin('', null), true)
    assert.equal(a.verifyPin('0', null), false)
    assert.equal(a.verifyPin('1234', 'garbage'), false)
  })
})
