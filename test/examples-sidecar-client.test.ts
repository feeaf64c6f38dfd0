/**
 * examples/sidecar-client, run as a user runs it: an Express app that calls the sms-otp sidecar
 * over HTTP (LinOTP `/validate/check`, undici), with the sidecar started in the same process on
 * PORT+1, or the one at SIDECAR_URL. Driven over real HTTP with a cookie jar: the same logins as
 * the Passport example's browser test (alice, a wrong code, bob's auto-enrolment, CSRF, hostile
 * OTP fields), plus the sidecar itself and a second app instance that uses the first one's sidecar.
 */
import assert from 'node:assert/strict'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { formClient, type FormClient } from './helpers/form-client.js'
import { startExample, type ExampleProcess } from './helpers/example-process.js'

const ALICE = '+4915112345678'
const BOB = '+4915187654321'

describe('examples/sidecar-client over HTTP', { timeout: 180_000 }, () => {
  let ex: ExampleProcess
  let sidecar = ''
  const others: ExampleProcess[] = []

  before(async () => {
    ex = await startExample('sidecar-client', { portPair: true })
    sidecar = `http://127.0.0.1:${ex.port + 1}`
  })
  after(async () => {
    for (const p of [...others, ex]) {
      await p?.stop()
      if (p) rmSync(p.dataDir, { recursive: true, force: true })
    }
  })

  /** Password step; resolves with the code from the SMS (the browser is then on /otp). */
  async function password(b: FormClient, user: string, pass: string, phone: string, on = ex): Promise<string> {
    const _csrf = await b.csrf('/login')
    const seen = on.outbox().length
    const r = await b.post('/login', { _csrf, username: user, password: pass })
    assert.equal(r.status, 303, r.text)
    assert.equal(r.location, '/otp')
    return on.nextSms(phone, seen)
  }
  async function code(b: FormClient, otp: string) {
    return b.post('/otp', { _csrf: await b.csrf('/otp'), otp })
  }
  const wrong = (otp: string): string => String((Number(otp) + 1) % 10 ** otp.length).padStart(otp.length, '0')

  it('alice: password, SMS code, /profile shows alice; a new session id at each factor; the old one is worthless', async () => {
    const b = formClient(ex.url)
    await b.csrf('/login')
    const anonymous = b.cookie('sid')
    const otp = await password(b, 'alice', 'alice-password', ALICE)
    const halfway = b.cookie('sid')
    assert.ok(halfway && halfway !== anonymous, 'the password step regenerates the session')
    const page = await b.get('/otp')
    assert.match(page.text, /name="otp" autocomplete="one-time-code" inputmode="numeric"/)
    const done = await code(b, otp)
    assert.equal(done.status, 303)
    assert.equal(done.location, '/profile')
    const signedIn = b.cookie('sid')
    assert.ok(signedIn && signedIn !== halfway, 'the second factor regenerates the session')
    assert.match((await b.get('/profile')).text, /Signed in as <strong id="user">alice<\/strong>/)
    const replay = formClient(ex.url)
    replay.setCookie('sid', halfway)
    assert.equal((await replay.get('/profile')).location, '/login', 'the pre-OTP session id is gone')
  })

  it('threat: the password alone does not reach /profile', async () => {
    const b = formClient(ex.url)
    const otp = await password(b, 'alice', 'alice-password', ALICE)
    const p = await b.get('/profile')
    assert.equal(p.status, 303)
    assert.equal(p.location, '/otp')
    assert.doesNotMatch(p.text, /Signed in/)
    assert.equal((await code(b, otp)).location, '/profile') // consumes the challenge for the next test
  })

  it('threat: a wrong code shows an error and does not sign in; the right one still does', async () => {
    const b = formClient(ex.url)
    const otp = await password(b, 'alice', 'alice-password', ALICE)
    const w = await code(b, wrong(otp))
    assert.equal(w.location, '/otp')
    assert.match((await b.get('/otp')).text, /role="alert">That code is wrong/)
    assert.equal((await b.get('/profile')).location, '/otp')
    assert.equal((await code(b, otp)).location, '/profile')
  })

  it('bob has no token: the sidecar enrols him on his first login (SMS to his directory mobile)', async () => {
    const b = formClient(ex.url)
    const otp = await password(b, 'bob', 'bob-password', BOB)
    assert.equal((await code(b, otp)).location, '/profile')
    assert.match((await b.get('/profile')).text, /id="user">bob</)
  })

  it('a wrong password is refused without an SMS', async () => {
    const b = formClient(ex.url)
    const seen = ex.outbox().length
    const r = await b.post('/login', { _csrf: await b.csrf('/login'), username: 'alice', password: 'guess' })
    assert.equal(r.status, 401)
    assert.match(r.text, /Wrong user name or password/)
    assert.equal(ex.outbox().length, seen)
  })

  it('threat: a form post without (or with a wrong) CSRF token gets 403 and sends nothing', async () => {
    const b = formClient(ex.url)
    await b.csrf('/login')
    const seen = ex.outbox().length
    assert.equal((await b.post('/login', { username: 'alice', password: 'alice-password' })).status, 403)
    assert.equal((await b.post('/login', { _csrf: 'x'.repeat(43), username: 'alice', password: 'alice-password' })).status, 403)
    assert.equal((await b.post('/login', { _csrf: [await b.csrf('/login'), 'x'], username: 'alice', password: 'alice-password' })).status, 403)
    assert.equal(ex.outbox().length, seen)
  })

  it('threat: an OTP post with `otp` as an array, 1 MB or 300 characters gets 400 and changes nothing', async () => {
    const b = formClient(ex.url)
    const otp = await password(b, 'alice', 'alice-password', ALICE)
    const t = encodeURIComponent(await b.csrf('/otp'))
    const seen = ex.outbox().length
    for (const body of [`_csrf=${t}&otp=${otp}&otp=${otp}`, `_csrf=${t}&otp=${'1'.repeat(1 << 20)}`, `_csrf=${t}&otp=${'1'.repeat(300)}`, `_csrf=${t}&otp=1&otp=2`]) {
      assert.equal((await b.post('/otp', body)).status, 400, body.slice(0, 80))
    }
    assert.equal(ex.outbox().length, seen)
    // None of the four counted as an attempt (three would have ended the challenge).
    assert.equal((await code(b, otp)).location, '/profile')
  })

  it('the sidecar on PORT+1 speaks LinOTP: password → transaction id, OTP → true; no admin API, no password in a GET', async () => {
    const post = async (params: Record<string, string>) => (await fetch(`${sidecar}/validate/check`, { method: 'POST', body: new URLSearchParams(params) })).json() as Promise<{ result: { value: boolean }; detail?: { transactionid?: string } }>
    const seen = ex.outbox().length
    const first = await post({ user: 'alice', pass: 'alice-password' })
    assert.equal(first.result.value, false)
    const transactionid = first.detail?.transactionid
    assert.match(transactionid ?? '', /^\d+$/)
    const otp = await ex.nextSms(ALICE, seen)
    assert.equal((await post({ user: 'alice', transactionid: transactionid ?? '', pass: otp })).result.value, true)
    assert.equal((await fetch(`${sidecar}/admin/show`)).status, 404)
    assert.equal((await fetch(`${sidecar}/validate/check?user=alice&pass=alice-password`)).status, 405)
  })

  it('with SIDECAR_URL, a second app uses that sidecar and starts none of its own', async () => {
    const second = await startExample('sidecar-client', { env: { SIDECAR_URL: sidecar } })
    others.push(second)
    const b = formClient(second.url)
    const otp = await password(b, 'alice', 'alice-password', ALICE, ex) // the SMS comes from the first one's sidecar
    assert.equal((await code(b, otp)).location, '/profile')
    assert.equal(existsSync(join(second.dataDir, 'sms-otp.db')), false)
    assert.ok(!(await fetch(`http://127.0.0.1:${second.port + 1}/healthz`).then(() => true, () => false)), 'no sidecar on its PORT+1')
  })
})
