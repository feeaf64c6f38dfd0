/**
 * A hanging HTTP gateway is `unavailable`, the next provider of the policy's list delivers, the
 * hanging one is skipped while it backs off, and the OTP lives as long as the delivering
 * provider's Timeout says.
 *
 * No wall-clock upper bound decides a result here (a busy CI machine stretches every timer): the
 * "hanging" gateway answers OK after 2.5 s, long after its configured 0.3 s timeout but well
 * before the 5 s default, so a timeout that is not applied shows as a send via the slow gateway.
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
    slow = await startGateway({ behaviour: { delayMs: 2500, body: 'OK' } })
    fast = await startGateway({ behaviour: { body: 'OK 4711' } })
    // The gateways listen on loopback, which the admin API refuses unless allowed (serve --allow-host).
    h = await startHarness({ resources: { allowHosts: ['127.0.0.1'] } })
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
    // Only catches a hang; that the 0.3 s timeout applied is proven by the outcome below.
    assert.ok(Date.now() - started < 10_000, 'hang guard')
    assert.equal(slow.requests.length, 1)
    assert.equal(await slow.requests[0]?.ended, 'aborted', 'the client hung up before the slow gateway answered')
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
    assert.equal(await slow.requests[1]?.ended, 'aborted')
    assert.equal(fast.requests.length, 2)
    // Now blocked for 60 s: the next SMS (after the 5 s resend block) goes straight to fast.
    h.clock.advance(6_000)
    const r = await h.post('/validate/check', { user: 'alice', pass: '1234' })
    assert.equal(r.body.detail.message, 'sms submitted')
    assert.equal(slow.requests.length, 2, 'no request to the blocked gateway (so no time spent on it)')
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
