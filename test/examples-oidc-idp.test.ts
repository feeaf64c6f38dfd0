/**
 * examples/oidc-idp run as a user runs it (its own process: relying party on PORT, OpenID
 * provider on PORT+1) and driven end to end in headless Chromium: the RP sends the browser to the
 * provider, whose login asks for the directory password and then the SMS code from the outbox;
 * only then does the RP receive a code and show the ID token's `sub`, `name` and `amr`.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'playwright-core'
import { chromiumSkip, launchBrowser } from './helpers/browser.js'
import { startExample, type ExampleProcess } from './helpers/example-process.js'
import { cookieValue, screenshot, wrongCode } from './helpers/oidc-browser.js'

const ALICE = '+4915112345678'
const BOB = '+4915187654321'

describe('examples/oidc-idp in headless Chromium', { skip: chromiumSkip, timeout: 180_000 }, () => {
  let ex: ExampleProcess
  let browser: Awaited<ReturnType<typeof launchBrowser>>
  let idp: string

  before(async () => {
    ex = await startExample('oidc-idp', { portPair: true })
    idp = `http://127.0.0.1:${ex.port + 1}`
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.dispose()
    await ex?.stop()
  })

  /** The provider's password step; resolves on the provider's SMS code page. */
  async function password(page: Page, login: string, pass: string): Promise<void> {
    assert.ok(page.url().startsWith(`${idp}/interaction/`), `expected the provider's login page, got ${page.url()}`)
    await page.fill('input[name="username"]', login)
    await page.fill('input[name="password"]', pass)
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')])
    assert.equal(await page.locator('input[name="otp"]').count(), 1, `expected the SMS code page, got ${page.url()}: ${await page.locator('body').innerText()}`)
  }

  /** A fresh browser profile at the RP's protected page, sent on to the provider, password done. */
  async function start(login: string, pass: string): Promise<{ page: Page; close: () => Promise<void> }> {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${ex.url}/profile`)
    const before = await cookieValue(context, 'oidc-idp.sid')
    await password(page, login, pass)
    const after = await cookieValue(context, 'oidc-idp.sid')
    assert.ok(before !== undefined && after !== undefined && before !== after, 'the provider session id changes after the password')
    return { page, close: () => context.close() }
  }

  async function enterCode(page: Page, code: string): Promise<void> {
    await page.fill('input[name="otp"]', code)
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/otp"] button[type="submit"]')])
  }

  it('alice: RP → provider password → SMS code → back at the RP with sub, name and amr pwd+sms', async () => {
    const seen = ex.outbox().length
    const { page, close } = await start('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      const input = page.locator('input[name="otp"]')
      assert.equal(await input.getAttribute('autocomplete'), 'one-time-code')
      assert.equal(await input.getAttribute('inputmode'), 'numeric')
      assert.match(await page.locator('#masked-phone').innerText(), /^\+49\d*\*+5678$/)
      assert.ok(!(await page.content()).includes(ALICE))
      await screenshot(page, 'oidc-idp-otp')
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
      assert.equal(await page.locator('#sub').innerText(), 'alice')
      assert.equal(await page.locator('#name').innerText(), 'Alice Example')
      assert.deepEqual((await page.locator('#amr').innerText()).split(' ').sort(), ['pwd', 'sms'])
    } finally {
      await close()
    }
  })

  it('threat: a wrong SMS code is refused at the provider and the RP gets no login; the right one then works', async () => {
    const seen = ex.outbox().length
    const { page, close } = await start('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      await enterCode(page, wrongCode(code))
      assert.ok(page.url().startsWith(`${idp}/interaction/`), `still at the provider, got ${page.url()}`)
      assert.match(await page.locator('[role="alert"]').innerText(), /not right/)
      const rp = await page.request.get(`${ex.url}/profile`, { maxRedirects: 0 })
      assert.equal(rp.status(), 303, 'the RP has no signed-in user')
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
      assert.equal(await page.locator('#sub').innerText(), 'alice')
    } finally {
      await close()
    }
  })

  it('threat: the password alone finishes no login, resuming the authorization skips no step, a form without the CSRF token is refused', async () => {
    const seen = ex.outbox().length
    const { page, close } = await start('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      const uid = new URL(page.url()).pathname.split('/')[2] ?? ''
      // The right code without the form's token: refused, nothing consumed.
      const forged = await page.request.post(`${idp}/interaction/${uid}/otp`, { form: { otp: code }, maxRedirects: 0 })
      assert.equal(forged.status(), 403)
      // Resuming the authorization request without finishing the interaction: the provider asks
      // for the login again (a new interaction, the password page), it does not call the RP back.
      await page.goto(`${idp}/auth/${uid}`)
      assert.ok(page.url().startsWith(`${idp}/interaction/`), `expected a new login at the provider, got ${page.url()}`)
      assert.notEqual(new URL(page.url()).pathname.split('/')[2], uid)
      assert.equal(await page.locator('input[name="password"]').count(), 1)
      assert.equal((await page.request.get(`${ex.url}/profile`, { maxRedirects: 0 })).status(), 303)
      // Password again: inside the resend cooldown no new SMS; the code already sent answers.
      const sent = ex.outbox().length
      await password(page, 'alice', 'alice-password')
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
      assert.equal(ex.outbox().length, sent, 'no second SMS inside the cooldown')
    } finally {
      await close()
    }
  })

  it('threat: three wrong codes end the SMS step: back to the password, no login', async () => {
    const seen = ex.outbox().length
    const { page, close } = await start('alice', 'alice-password')
    try {
      const code = await ex.nextSms(ALICE, seen)
      for (let i = 0; i < 3; i++) await enterCode(page, wrongCode(code))
      assert.match(await page.locator('[role="alert"]').innerText(), /Too many wrong codes/)
      assert.equal(await page.locator('input[name="otp"]').count(), 0)
      assert.equal(await page.locator('input[name="password"]').count(), 1)
      assert.equal((await page.request.get(`${ex.url}/profile`, { maxRedirects: 0 })).status(), 303)
      // Starting over from the password works (the open challenge is answered with its code).
      await password(page, 'alice', 'alice-password')
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
    } finally {
      await close()
    }
  })

  it('a wrong password never sends an SMS', async () => {
    const context = await browser.newContext()
    try {
      const page = await context.newPage()
      const seen = ex.outbox().length
      await page.goto(`${ex.url}/profile`)
      await page.fill('input[name="username"]', 'alice')
      await page.fill('input[name="password"]', 'not-the-password')
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')])
      assert.match(await page.locator('[role="alert"]').innerText(), /Wrong user name or password/)
      assert.equal(await page.locator('input[name="otp"]').count(), 0)
      assert.equal(ex.outbox().length, seen)
    } finally {
      await context.close()
    }
  })

  it('bob has no token: auto-enrolled at the provider for his directory mobile, SMS to it, signed in at the RP', async () => {
    const seen = ex.outbox().length
    const { page, close } = await start('bob', 'bob-password')
    try {
      const code = await ex.nextSms(BOB, seen)
      assert.match(await page.locator('#masked-phone').innerText(), /4321$/)
      await screenshot(page, 'oidc-idp-otp-bob')
      await enterCode(page, code)
      assert.equal(page.url(), `${ex.url}/profile`)
      assert.equal(await page.locator('#sub').innerText(), 'bob')
      assert.equal(await page.locator('#name').innerText(), 'Bob Example')
    } finally {
      await close()
    }
  })
})
