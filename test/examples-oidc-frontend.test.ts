/**
 * examples/oidc-frontend run as a user runs it (its own process, demo OpenID provider on PORT+1)
 * and driven end to end in headless Chromium: sign in at the provider, the SMS code from the
 * outbox, the protected page. The provider, the code exchange and the gate are all real.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { chromiumSkip, launchBrowser } from './helpers/browser.js'
import { startExample, type ExampleProcess } from './helpers/example-process.js'
import { cookieValue, screenshot, wrongCode } from './helpers/oidc-browser.js'

const ALICE = '+4915112345678'
const BOB = '+4915187654321'
const COOKIE = 'oidc-frontend.sid'

describe('examples/oidc-frontend in headless Chromium', { skip: chromiumSkip, timeout: 180_000 }, () => {
  let ex: ExampleProcess
  let browser: Awaited<ReturnType<typeof launchBrowser>>

  before(async () => {
    ex = await startExample('oidc-frontend', { portPair: true })
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.dispose()
    await ex?.stop()
  })

  /** A fresh browser profile that asks for /profile and signs in at the demo provider. */
  async function signIn(login: string, password: string): Promise<{ page: Page; close: () => Promise<void> }> {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${ex.url}/profile`)
    // Sent to the provider on the neighbouring port: its own login page.
    assert.equal(new URL(page.url()).port, String(ex.port + 1), `expected the provider's login page, got ${page.url()}`)
    await page.fill('input[name="username"]', login)
    await page.fill('input[name="password"]', password)
    // Back at the front-end (callback, gate): it should be asking for the SMS code.
    await Promise.all([page.waitForURL((u) => u.port === String(ex.port)), page.click('button[type="submit"]')])
    assert.equal(new URL(page.url()).pathname, '/otp', `expected the OTP page, got ${page.url()}: ${await page.locator('body').innerText()}`)
    return { page, close: () => context.close() }
  }

  async function enterCode(page: Page, code: string): Promise<void> {
    await page.fill('input[name="otp"]', code)
    await Promise.all([page.waitForNavigation(), page.click('form[action="/otp"] button[type="submit"]')])
  }

  it('alice: provider login, SMS code from the outbox, profile; new session id after the code', async () => {
    const seen = ex.outbox().length
    const { page, close } = await signIn('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      const input = page.locator('input[name="otp"]')
      assert.equal(await input.getAttribute('autocomplete'), 'one-time-code')
      assert.equal(await input.getAttribute('inputmode'), 'numeric')
      // The masked number is shown, the full one never.
      assert.match(await page.locator('#masked-phone').innerText(), /^\+49\d*\*+\d{2,4}$/)
      assert.ok(!(await page.content()).includes(ALICE))
      await screenshot(page, 'oidc-frontend-otp')
      const before = await cookieValue(page.context(), COOKIE)
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
      assert.equal(await page.locator('#sub').innerText(), 'alice')
      assert.equal(await page.locator('#user').innerText(), 'Alice Example')
      const afterCode = await cookieValue(page.context(), COOKIE)
      assert.ok(before !== undefined && afterCode !== undefined && before !== afterCode, 'the session id changes after the second factor')
    } finally {
      await close()
    }
  })

  it('threat: a wrong SMS code is refused and does not sign in; the right one still works', async () => {
    const seen = ex.outbox().length
    const { page, close } = await signIn('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      await enterCode(page, wrongCode(code))
      assert.equal(new URL(page.url()).pathname, '/otp')
      assert.match(await page.locator('[role="alert"]').innerText(), /not right/)
      await page.goto(`${ex.url}/profile`)
      assert.equal(new URL(page.url()).pathname, '/otp', 'the profile stays behind the SMS step')
      assert.equal(await page.locator('#sub').count(), 0)
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
    } finally {
      await close()
    }
  })

  it('threat: with only the provider login the profile is unreachable, and a form without the CSRF token is refused', async () => {
    const seen = ex.outbox().length
    const { page, close } = await signIn('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      // A client asking for JSON gets the challenge, not the profile.
      const json = await page.request.get(`${ex.url}/profile`, { headers: { accept: 'application/json' }, maxRedirects: 0 })
      assert.equal(json.status(), 401)
      assert.ok(!(await json.text()).includes('Alice'))
      // The right code without the form's token: refused before the gate sees it, nothing consumed.
      const forged = await page.request.post(`${ex.url}/otp`, { form: { otp: code }, maxRedirects: 0 })
      assert.equal(forged.status(), 403)
      await page.goto(`${ex.url}/profile`)
      assert.equal(new URL(page.url()).pathname, '/otp')
      // The same code through the real form still works: the forged post used nothing up.
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
    } finally {
      await close()
    }
  })

  it('resend inside the cooldown: the button waits, a forced resend sends nothing, the code still works', async () => {
    const seen = ex.outbox().length
    const { page, close } = await signIn('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      assert.equal(await page.locator('#resend').isDisabled(), true)
      assert.match(await page.locator('#cooldown').innerText(), /available in \d+ s/)
      // Submitted anyway (the disabled button is only a hint): the gate keeps the cooldown.
      const sent = ex.outbox().length
      await Promise.all([page.waitForNavigation(), page.locator('form[action="/otp/resend"]').evaluate((f) => (f as unknown as { submit(): void }).submit())])
      assert.equal(new URL(page.url()).pathname, '/otp')
      assert.equal(ex.outbox().length, sent, 'no SMS inside the cooldown')
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
    } finally {
      await close()
    }
  })

  it('bob has no token: auto-enrolled from the phone_number claim, SMS to his number, signed in', async () => {
    const seen = ex.outbox().length
    const { page, close } = await signIn('bob', 'bob-password')
    try {
      // The front-end's engine has no user directory: the number can only be the provider's claim.
      const code = await ex.nextSms(BOB, seen)
      assert.match(await page.locator('#masked-phone').innerText(), /5?4321$/)
      await screenshot(page, 'oidc-frontend-otp-bob')
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
      assert.equal(await page.locator('#sub').innerText(), 'bob')
    } finally {
      await close()
    }
  })

  it('signing out ends the session: the profile asks for the provider again', async () => {
    const seen = ex.outbox().length
    const { page, close } = await signIn('alice', 'alice-password')
    try {
      await enterCode(page, await ex.nextSms(ALICE, seen))
      await Promise.all([page.waitForURL(`${ex.url}/`), page.click('form[action="/logout"] button')])
      const res = await page.request.get(`${ex.url}/profile`, { maxRedirects: 0 })
      assert.equal(res.status(), 303)
      assert.equal(res.headers().location, '/login')
    } finally {
      await close()
    }
  })
})
