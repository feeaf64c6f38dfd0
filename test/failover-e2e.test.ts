/**
 * A hanging HTTP gateway is `unavailable`, the next provider of the policy's list delivers, the
 * hanging one is skipped while it backs off, and the OTP lives as long as the delivering
 * provider's Timeout says.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startGateway, type Gateway } from './helpers/gateway.js'
import { enrolAlice, startHarness, type Harness } from './helpers/harness.js'

describe('failover through real HTTP gateways', () => {
  let h: Harness
  let slow: Gateway
  let fast: Gateway
  before(async () => {
    slow = await startGateway({ behaviour: { hang: true } })
    fast = await startGateway({ behaviour: { body: 'OK 4711' } })
    h = await startHarness()
    const http = (url: string, timeout: string) => JSON.stringify({ URL: url, HTTP_Method: 'POST', RETURN_SUCCESS: 'OK', timeout })
    await h.admin('/system/setProvider', { name: 'slow', type: 'sms', class: 'smsprovider.HttpSMSProvider.HttpSMSProvider', config: http(slow.url, '0.3'), timeout: '300' })
    await h.admin('/system/setProvider', { name: 'fast', type: 'sms', class: 'HttpSMSProvider', config: http(fast.url, '2'), timeout: '60' })
    await h.admin('/system/setPolicy', { name: 'chain', scope: 'authentication', action: 'sms_provider=slow fast', realm: 'example', user: '*', client: '*' })
    await h.admin('/system/setConfig', { SMSBlockingTimeout: '5' })
    await enrolAlice(h)
  })
  after(async () => {
    await h.close()
    await Promise.all([slow.close(), fast.close()])
  })

  it('the hanging gateway times out and the next provider delivers', async () => {
    const started = Date.now()
    const r = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(r.body.detail.message, 'sms submitted')
    assert.ok(Date.now() - started < 3000, 'gave up on the hanging gateway within its timeout')
    assert.equal(slow.requests.length, 1)
    assert.equal(fast.requests.length, 1)
    assert.deepEqual(fast.requests[0]?.form, [['phone', '+4915112345678'], ['sms', '287082']])
    const audit = h.audit.at(-1)
    assert.match(audit?.reason ?? '', /sms sent via fast/)
  })

  it('the OTP lives as long as the delivering provider says (60 s, not 300 s)', async () => {
    h.clock.advance(61_000)
    const late = await h.post('/validate/check', { user: 'alice', pass: '1234287082' })
    assert.equal(late.body.result.value, false)
  })

  it('while the slow gateway backs off it is skipped without a request', async () => {
    // 61 s later the 30 s back-off has passed: slow is tried again (and hangs again).
    await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(slow.requests.length, 2)
    assert.equal(fast.requests.length, 2)
    // Now blocked for 60 s: the next SMS (after the 5 s resend block) goes straight to fast.
    h.clock.advance(6_000)
    const started = Date.now()
    const r = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(r.body.detail.message, 'sms submitted')
    assert.ok(Date.now() - started < 250, 'no time spent on the blocked gateway')
    assert.equal(slow.requests.length, 2)
    assert.equal(fast.requests.length, 3)
    const otp = fast.requests[2]?.form.find(([k]) => k === 'sms')?.[1]
    const ok = await h.post('/validate/check', { user: 'alice', transactionid: r.body.detail.transactionid, pass: otp ?? '' })
    assert.equal(ok.body.result.value, true)
  })

  it('a gateway that answers but lies about success is rejected, without failover', async () => {
    fast.reset({ body: 'ERROR 17 invalid destination' })
    h.clock.advance(6_000)
    const r = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(r.body.result.value, false)
    assert.equal(r.body.detail, undefined, 'the client is not told why')
    assert.match(h.audit.at(-1)?.reason ?? '', /fast: gateway reply did not match RETURN_SUCCESS/)
  })
})
