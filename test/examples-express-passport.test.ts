/**
 * examples/express-passport, run as a user runs it (its own process, `npx tsx …/server.ts`), driven
 * by headless Chromium: password, the SMS code read from the example's outbox, /profile. Also the
 * things a login page must get right: the session id changes at each factor, a password alone does
 * not reach /profile, a wrong code does not sign in, forms without the CSRF token are refused,
 * malformed OTP posts change nothing, and bob is enrolled on his first login.
 *
 * Skipped without Chromium, except under CI=true, where a missing Chromium is a failure.
 */
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { BrowserContext, Page } from 'playwright-core'
import { chromiumSkip, launchBrowser } from './helpers/browser.js'
import { root, startExample, type ExampleProcess } from './helpers/example-process.js'

const ALICE = '+4915112345678'
const BOB = '+4915187654321'

describe('examples/express-passport in Chromium', { skip: chromiumSkip, timeout: 180_000 }, () => {
  let ex: ExampleProcess
  let browser: Awaited<ReturnType<typeof launchBrowser>>
  const contexts: BrowserContext[] = []
  let firstDataDir: string | undefined

  before(async () => {
    ex = await startExample('express-passport')
    browser = await launchBrowser()
  })
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined)
    await browser?.dispose()
    await ex?.stop()
    for (const dir of [ex?.dataDir, firstDataDir]) if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const fresh = async (): Promise<{ ctx: BrowserContext; page: Page }> => {
    const ctx = await browser.newContext()
    contexts.push(ctx)
    return { ctx, page: await ctx.newPage() }
  }
  const sid = async (ctx: BrowserContext): Promise<string | undefined> => (await ctx.cookies(ex.url)).find((c) => c.name === 'sid')?.value

  /** Signs in with the password; resolves on the OTP page with the code the SMS carried. */
  async function password(page: Page, user: string, pass: string, phone: string): Promise<string> {
    await page.goto(`${ex.url}/login`)
    const seen = ex.outbox().length
    await page.fill('input[name=username]', user)
    await page.fill('input[name=password]', pass)
    await Promise.all([page.waitForURL(`${ex.url}/otp`), page.click('button[type=submit]')])
    return ex.nextSms(phone, seen)
  }

  async function submitCode(page: Page, code: string): Promise<void> {
    await page.fill('input[name=otp]', code)
    // The POST answers 303; wait for the page the browser lands on (the code page or /profile).
    const landed = page.waitForResponse((r) => r.request().method() === 'GET' && r.request().isNavigationRequest())
    await page.click('form[action="/otp"] button')
    await landed
    await page.waitForLoadState('domcontentloaded')
  }

  const wrong = (code: string): string => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0')

  it('alice: password, code from the SMS, /profile shows alice; new session id at each factor; sign-out', async () => {
    const { ctx, page } = await fresh()
    await page.goto(`${ex.url}/login`)
    const anonymous = await sid(ctx)
    assert.ok(anonymous, 'the login page (CSRF token) starts a session')
    const code = await password(page, 'alice', 'alice-password', ALICE)
    const halfway = await sid(ctx)
    assert.ok(halfway && halfway !== anonymous, 'the password step regenerates the session')

    // The OTP page: masked phone only, the input browsers and phones autofill, the resend cooldown.
    const input = page.locator('input[name=otp]')
    assert.equal(await input.getAttribute('autocomplete'), 'one-time-code')
    assert.equal(await input.getAttribute('inputmode'), 'numeric')
    const html = await page.content()
    assert.match(html, /\+49\*+5678/)
    assert.ok(!html.includes(ALICE), 'the full phone number is never shown')
    const resend = page.locator('#resend')
    assert.equal(await resend.isDisabled(), true, 'inside the cooldown the resend button is disabled')
    assert.match(await resend.innerText(), /in \d+ s/)
    mkdirSync(join(root, 'test-output'), { recursive: true })
    const shot = join(root, 'test-output', 'otp-page.png')
    await page.screenshot({ path: shot, fullPage: true })
    assert.deepEqual([...readFileSync(shot).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG was written')

    await submitCode(page, code)
    assert.equal(page.url(), `${ex.url}/profile`)
    assert.equal(await page.locator('#user').innerText(), 'alice')
    const signedIn = await sid(ctx)
    assert.ok(signedIn && signedIn !== halfway, 'the second factor regenerates the session (passport 0.7 req.logIn)')

    // The id from before the second factor is worthless now (destroyed on regenerate).
    const replay = await fetch(`${ex.url}/profile`, { headers: { cookie: `sid=${halfway}` }, redirect: 'manual' })
    assert.equal(replay.status, 303)
    assert.equal(replay.headers.get('location'), '/login')

    await Promise.all([page.waitForURL(`${ex.url}/login`), page.click('form[action="/logout"] button')])
    await page.goto(`${ex.url}/profile`)
    assert.equal(page.url(), `${ex.url}/login`, 'signed out: /profile sends to the login page')
  })

  it('threat: the password alone does not reach /profile', async () => {
    const { ctx, page } = await fresh()
    const code = await password(page, 'alice', 'alice-password', ALICE)
    await page.goto(`${ex.url}/profile`)
    assert.equal(page.url(), `${ex.url}/otp`, 'a half-signed-in browser is sent back to the code page')
    assert.equal(await page.locator('#user').count(), 0)
    const direct = await fetch(`${ex.url}/profile`, { headers: { cookie: `sid=${await sid(ctx)}` }, redirect: 'manual' })
    assert.equal(direct.status, 303)
    assert.equal(direct.headers.get('location'), '/otp')
    assert.ok(!(await direct.text()).includes('Signed in'))
    await submitCode(page, code) // consumes the challenge, so the next test gets a new SMS
    assert.equal(page.url(), `${ex.url}/profile`)
  })

  it('threat: a wrong code shows an error and does not sign in; the right one still does', async () => {
    const { page } = await fresh()
    const code = await password(page, 'alice', 'alice-password', ALICE)
    await submitCode(page, wrong(code))
    assert.equal(page.url(), `${ex.url}/otp`)
    assert.match(await page.locator('[role=alert]').innerText(), /wrong or has expired/)
    await page.goto(`${ex.url}/profile`)
    assert.equal(page.url(), `${ex.url}/otp`, 'still not signed in')
    await submitCode(page, code)
    assert.equal(page.url(), `${ex.url}/profile`)
    assert.equal(await page.locator('#user').innerText(), 'alice')
  })

  it('resend inside the cooldown sends no SMS and asks to wait; the code in hand still works', async () => {
    const { page } = await fresh()
    const code = await password(page, 'alice', 'alice-password', ALICE)
    const seen = ex.outbox().length
    // The button is disabled in the page; the server enforces the cooldown on its own.
    await page.locator('#resend').evaluate((b) => ((b as unknown as { disabled: boolean }).disabled = false))
    const landed = page.waitForResponse((r) => r.request().method() === 'GET' && r.request().isNavigationRequest())
    await page.click('#resend')
    await landed
    assert.equal(page.url(), `${ex.url}/otp`)
    assert.match(await page.locator('[role=alert]').innerText(), /Please wait/)
    assert.equal(await page.locator('#resend').isDisabled(), true)
    assert.equal(ex.outbox().length, seen, 'no second SMS inside the cooldown')
    await submitCode(page, code)
    assert.equal(page.url(), `${ex.url}/profile`)
  })

  it('threat: a form post without the CSRF token gets 403 and does nothing', async () => {
    const { ctx, page } = await fresh()
    await page.goto(`${ex.url}/login`)
    await page.locator('input[name=_csrf]').evaluate((e) => e.remove())
    await page.fill('input[name=username]', 'alice')
    await page.fill('input[name=password]', 'alice-password')
    const seen = ex.outbox().length
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url() === `${ex.url}/login` && r.request().method() === 'POST'), page.click('button[type=submit]')])
    assert.equal(refused.status(), 403)
    const forged = await ctx.request.post(`${ex.url}/login`, { form: { username: 'alice', password: 'alice-password', _csrf: 'x'.repeat(43) }, maxRedirects: 0 })
    assert.equal(forged.status(), 403, 'a wrong token is refused like a missing one')
    assert.equal(ex.outbox().length, seen, 'no SMS was sent')
    await page.goto(`${ex.url}/profile`)
    assert.equal(page.url(), `${ex.url}/login`, 'not signed in')
  })

  it('threat: an OTP post with `otp` as an array, 1 MB or 300 characters gets 400 and changes nothing', async () => {
    const { ctx, page } = await fresh()
    const code = await password(page, 'alice', 'alice-password', ALICE)
    const token = await page.locator('form[action="/otp"] input[name=_csrf]').getAttribute('value')
    assert.ok(token)
    const seen = ex.outbox().length
    const post = (body: string) => ctx.request.post(`${ex.url}/otp`, { data: body, headers: { 'content-type': 'application/x-www-form-urlencoded' }, maxRedirects: 0 })
    const t = encodeURIComponent(token)
    for (const [what, body] of [
      ['an array', `_csrf=${t}&otp=${code}&otp=${code}`],
      ['1 MB', `_csrf=${t}&otp=${'1'.repeat(1 << 20)}`],
      ['300 characters', `_csrf=${t}&otp=${'1'.repeat(300)}`],
      ['an array, again', `_csrf=${t}&otp=1&otp=2`],
    ] as const) {
      assert.equal((await post(body)).status(), 400, what)
    }
    assert.equal(ex.outbox().length, seen, 'no SMS was sent')
    // Four refused posts used up none of the three attempts, and the challenge is still open.
    await page.reload()
    await submitCode(page, code)
    assert.equal(page.url(), `${ex.url}/profile`)
  })

  it('bob has no token: he is enrolled on his first login (SMS to his directory mobile) and signs in', async () => {
    const { page } = await fresh()
    const code = await password(page, 'bob', 'bob-password', BOB)
    assert.match(await page.content(), /\+49\*+4321/)
    assert.match(await page.locator('[role=status]').innerText(), /now set up for sign-in codes/, 'the page says the token was just enrolled')
    await submitCode(page, code)
    assert.equal(page.url(), `${ex.url}/profile`)
    assert.equal(await page.locator('#user').innerText(), 'bob')
  })

  it('threat: credentials in the query string are refused (passport-local would read them)', async () => {
    const { ctx, page } = await fresh()
    await page.goto(`${ex.url}/login`)
    const _csrf = await page.locator('input[name=_csrf]').getAttribute('value')
    const seen = ex.outbox().length
    const r = await ctx.request.post(`${ex.url}/login?username=alice&password=alice-password`, { form: { _csrf: _csrf ?? '' }, maxRedirects: 0 })
    assert.equal(r.status(), 400)
    assert.equal(ex.outbox().length, seen)
  })

  it('a wrong password is refused without an SMS', async () => {
    const { page } = await fresh()
    await page.goto(`${ex.url}/login`)
    const seen = ex.outbox().length
    await page.fill('input[name=username]', 'alice')
    await page.fill('input[name=password]', 'not-her-password')
    const [res] = await Promise.all([page.waitForResponse((r) => r.url() === `${ex.url}/login` && r.request().method() === 'POST'), page.click('button[type=submit]')])
    assert.equal(res.status(), 401)
    assert.match(await page.locator('[role=alert]').innerText(), /Wrong user name or password/)
    assert.equal(ex.outbox().length, seen)
  })

  it('restarts over the same data directory: same key and database, alice still has exactly one token', async () => {
    firstDataDir = ex.dataDir
    await ex.stop()
    // The helper gives the new process a fresh DATA_DIR; the environment points it at the old one.
    ex = await startExample('express-passport', { env: { DATA_DIR: firstDataDir } })
    const outbox = join(firstDataDir, 'sms-outbox.log')
    const lines = (): string[] => readFileSync(outbox, 'utf8').split('\n').filter((l) => l !== '')
    const seen = lines().length
    const { page } = await fresh()
    await page.goto(`${ex.url}/login`)
    await page.fill('input[name=username]', 'alice')
    await page.fill('input[name=password]', 'alice-password')
    await Promise.all([page.waitForURL(`${ex.url}/otp`), page.click('button[type=submit]')])
    // One token: one SMS and a single masked phone (several tokens would mean several SMS, no phone).
    const sent = lines().slice(seen)
    assert.equal(sent.length, 1, 'exactly one SMS')
    assert.match(await page.content(), /\+49\*+5678/)
    await submitCode(page, (sent[0] ?? '').split(':')[1] ?? '')
    assert.equal(page.url(), `${ex.url}/profile`)
  })
})
