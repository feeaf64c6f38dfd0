/**
 * "Remember this device" of requireSecondFactor(): a signed, user-bound cookie that skips the SMS
 * for N days, revocable by an admin, in a real Express 5 app with express-session over loopback.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, it } from 'node:test'
import { Secrets } from '../src/crypto/secrets.js'
import { DeviceSigner } from '../src/login/devices.js'
import { createSmsOtp } from '../src/sms-otp.js'
import { requireSecondFactor, type GateOptions } from '../middleware/index.js'
import { createSqliteStore } from '../src/stores/sqlite.js'
import type { Store } from '../src/stores/types.js'
import { DEVICE_SECRET, cookieBrowser, startGateApp, type GateApp } from './helpers/gate-app.js'

const SECRET = DEVICE_SECRET
const DAY = 86_400_000

let app: GateApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

const start = (remember?: GateOptions['rememberDevice'], engine: { store?: Store; secrets?: Secrets } = {}): Promise<GateApp> => startGateApp({ ...(remember === undefined ? {} : { remember }), ...engine })
const browser = cookieBrowser

describe('requireSecondFactor: remember this device', () => {
  it('a remembered device skips the SMS at the next login, for this user only, for N days', async () => {
    const a = (app = await start())
    const b = browser(a)
    const done = await b.login('alice', true)
    const device = done.setCookies.find((c) => c.startsWith('smsOtpDevice='))
    assert.ok(device, 'the device cookie is set')
    assert.match(device, /HttpOnly/i)
    assert.match(device, /SameSite=Lax/i)
    assert.match(device, /Max-Age=2592000/)
    assert.equal(device.includes('+4915112345678'), false)
    // A new session (logged out), same browser: the password alone reaches the profile.
    b.jar.delete('connect.sid')
    const sent = await a.smsCount()
    await b.post('/first', { user: 'alice' })
    const before = b.jar.get('connect.sid')
    const p = await b.get('/profile')
    assert.equal(p.status, 200)
    assert.equal(await a.smsCount(), sent, 'no SMS')
    assert.notEqual(b.jar.get('connect.sid'), before, 'the session id changes as after an OTP')
    // Another user in the same browser gets no pass from alice's device.
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'bob' })
    assert.equal((await b.get('/profile')).location, '/otp')
    // After N days the device is forgotten.
    a.clock.advance(30 * DAY)
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    assert.equal((await b.get('/profile')).location, '/otp')
  })

  it('without the remember field no cookie is set', async () => {
    const a = (app = await start())
    const done = await browser(a).login('alice', false)
    assert.equal(done.setCookies.some((c) => c.startsWith('smsOtpDevice=')), false)
  })

  it('an admin revokes one user: the cookie is refused and a session it let in loses its mark', async () => {
    const a = (app = await start())
    const b = browser(a)
    await b.login('alice', true)
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    assert.equal((await b.get('/profile')).status, 200)
    a.clock.advance(1000)
    await a.otp.devices.revoke({ user: 'alice' })
    assert.equal((await b.get('/profile')).location, '/otp', 'the running session lost its device mark')
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    assert.equal((await b.get('/profile')).location, '/otp', 'the cookie is refused')
  })

  it('a revocation made by another process sharing the store (the sidecar admin) counts at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sms-otp-remember-db-'))
    const secrets = Secrets.ephemeral()
    const a = (app = await start(undefined, { store: createSqliteStore({ path: join(dir, 'db.sqlite') }), secrets }))
    const b = browser(a)
    await b.login('alice', true)
    const admin = await createSmsOtp({ store: createSqliteStore({ path: join(dir, 'db.sqlite') }), secrets, clock: a.clock })
    try {
      a.clock.advance(1000)
      await admin.devices.revoke({ user: 'alice' })
    } finally {
      await admin.close()
    }
    // The app's engine never reloaded its settings: the gate reads the store.
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    assert.equal((await b.get('/profile')).location, '/otp')
    await rm(dir, { recursive: true, force: true }).catch(() => undefined)
  })

  it('revokeAll forgets every device; a device remembered afterwards works again', async () => {
    const a = (app = await start())
    const b = browser(a)
    await b.login('alice', true)
    a.clock.advance(1000)
    await a.otp.devices.revokeAll()
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    assert.equal((await b.get('/profile')).location, '/otp')
    a.clock.advance(60_000)
    await b.post('/otp', { otp: await a.lastOtp(), remember: '1' })
    b.jar.delete('connect.sid')
    await b.post('/first', { user: 'alice' })
    assert.equal((await b.get('/profile')).status, 200)
  })

  it('threat: a forged, altered or other-user cookie counts for nothing', async () => {
    const a = (app = await start())
    const b = browser(a)
    const forger = new DeviceSigner('another secret that is 32 bytes long!!')
    const now = a.clock.now()
    const forged = forger.issue('alice', null, now, DAY, '.')
    const genuineBob = new DeviceSigner(SECRET).issue('bob', null, now, DAY, '.')
    const [v, payload, mac] = genuineBob.split('.') as [string, string, string]
    const swapped = `${v}.${Buffer.from(JSON.stringify({ u: 'alice', r: null, iat: now, exp: now + DAY, g: '.', id: 'x' })).toString('base64url')}.${mac}`
    for (const cookie of [forged, swapped, genuineBob, `${v}.${payload}`, 'v1..', 'x'.repeat(5000)]) {
      b.jar.clear()
      b.jar.set('smsOtpDevice', cookie)
      await b.post('/first', { user: 'alice' })
      assert.equal((await b.get('/profile')).location, '/otp', `refused: ${cookie.slice(0, 30)}`)
    }
  })

  it('removing or disabling the token, or lowering days, ends remembered devices', async () => {
    const a = (app = await start())
    const b = browser(a)
    await b.login('alice', true)
    const again = async () => {
      b.jar.delete('connect.sid')
      await b.post('/first', { user: 'alice' })
      return b.get('/profile')
    }
    assert.equal((await again()).status, 200)
    await a.otp.tokens.disable({ user: 'alice' })
    assert.notEqual((await again()).status, 200, 'a disabled token: no pass by device')
    await a.otp.tokens.enable({ user: 'alice' })
    assert.equal((await again()).status, 200)
    // The host lowers `days`: a cookie issued for 30 days is refused by a gate that allows 7.
    const shorter = new DeviceSigner(SECRET)
    const cookie = b.jar.get('smsOtpDevice') ?? ''
    assert.ok(shorter.read(cookie, a.clock.now(), 30 * DAY))
    assert.equal(shorter.read(cookie, a.clock.now(), 7 * DAY), undefined)
  })

  it('bad options fail at construction with a coded error', async () => {
    const a = (app = await start(undefined))
    const bad: Array<[unknown, RegExp]> = [
      [{ days: 30, secret: 'short' }, /rememberDevice\.secret/],
      [{ days: 0, secret: SECRET }, /rememberDevice\.days/],
      [{ days: 400, secret: SECRET }, /rememberDevice\.days/],
      [{ days: 30, secret: SECRET, cookieName: 'a b;' }, /rememberDevice\.cookieName/],
      [{ days: 30, secret: SECRET, field: 'otp' }, /rememberDevice\.field/],
      [{ days: 30, secret: SECRET, secure: 'yes' }, /rememberDevice\.secure/],
      ['on', /rememberDevice/],
    ]
    for (const [rememberDevice, message] of bad) {
      assert.throws(() => requireSecondFactor(a.otp, { otpPath: '/otp', rememberDevice: rememberDevice as NonNullable<GateOptions['rememberDevice']> }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_OTP_INVALID_OPTION')
        assert.match(err.message, message)
        return true
      })
    }
  })
})
