/**
 * Small helpers for the validate suites: a reference HOTP built directly on node:crypto (so the
 * suites never trust src/otp to check src/otp), token state read back through `/admin/show`, JSON
 * requests, and one-line provider / policy / config set-up through the admin API.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Body, Harness, Reply } from './harness.js'

/** The RFC 4226 test key (ASCII "12345678901234567890") that `enrolAlice` uses. */
export const RFC_KEY = '3132333435363738393031323334353637383930'
/** RFC 4226 Appendix D values for {@link RFC_KEY}, index = counter. */
export const RFC_HOTP = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'] as const
export const ALICE_PHONE = '+4915112345678'
export const ALICE_PIN = '1234'

/** Reference HOTP (RFC 4226 §5.3), independent of src/otp. */
export function refHotp(keyHex: string, counter: number, digits = 6, hash: 'sha1' | 'sha256' | 'sha512' = 'sha1'): string {
  const msg = Buffer.alloc(8)
  msg.writeUInt32BE(Math.floor(counter / 2 ** 32), 0)
  msg.writeUInt32BE(counter % 2 ** 32, 4)
  const mac = createHmac(hash, Buffer.from(keyHex, 'hex')).update(msg).digest()
  const offset = (mac[mac.length - 1] as number) & 0x0f
  const bin = (((mac[offset] as number) & 0x7f) << 24) | ((mac[offset + 1] as number) << 16) | ((mac[offset + 2] as number) << 8) | (mac[offset + 3] as number)
  return String(bin % 10 ** digits).padStart(digits, '0')
}

/** HOTP(n) of the alice key. */
export function aliceOtp(n: number): string {
  const v = RFC_HOTP[n]
  if (v === undefined) throw new Error(`no RFC vector for counter ${n}`)
  return v
}

/** The `/admin/show` row of one token. */
export async function tokenInfo(h: Harness, serial: string): Promise<Record<string, Body>> {
  const r = await h.admin('/admin/show', { serial })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  const row = r.body.result.value.data[0]
  assert.ok(row, `token ${serial} not found`)
  return row
}

export async function failcount(h: Harness, serial: string): Promise<number> {
  return (await tokenInfo(h, serial))['LinOtp.FailCount'] as number
}

export async function counter(h: Harness, serial: string): Promise<number> {
  return (await tokenInfo(h, serial))['LinOtp.Count'] as number
}

/** POST a JSON body. */
export async function postJson(h: Harness, path: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // plain text answer
  }
  return { status: res.status, body: parsed }
}

/** Admin call that must succeed (HTTP 200, status true). */
export async function adminOk(h: Harness, path: string, params: Record<string, string>): Promise<Body> {
  const r = await h.admin(path, params)
  assert.equal(r.status, 200, `${path} ${JSON.stringify(params)} → ${JSON.stringify(r.body)}`)
  assert.equal(r.body.result.status, true, `${path} → ${JSON.stringify(r.body)}`)
  return r.body
}

/** Creates (or replaces) a FileSMSProvider appending to `file` inside the harness dir. */
export async function fileProvider(h: Harness, name: string, opts: { file?: string; timeout?: number; config?: Record<string, unknown> } = {}): Promise<string> {
  const file = opts.file ?? join(h.dir, `${name}.log`)
  await adminOk(h, '/system/setProvider', {
    name, type: 'sms', class: 'FileSMSProvider', timeout: String(opts.timeout ?? 120),
    config: JSON.stringify({ file, append: true, ...opts.config }),
  })
  return file
}

/**
 * A provider that always answers "unavailable": its outbox path cannot be created (a regular file
 * stands where its directory should be: ENOTDIR). Inside the harness directory, the one path the
 * admin API may use there.
 */
export async function brokenProvider(h: Harness, name: string, timeout = 120): Promise<void> {
  const blocker = join(h.dir, 'not-a-directory')
  await writeFile(blocker, '')
  await adminOk(h, '/system/setProvider', {
    name, type: 'sms', class: 'FileSMSProvider', timeout: String(timeout), config: JSON.stringify({ file: join(blocker, 'x') }),
  })
}

/** Sets an authentication policy (realm example unless given). */
export async function policy(h: Harness, name: string, action: string, extra: Record<string, string> = {}): Promise<void> {
  await adminOk(h, '/system/setPolicy', { name, scope: 'authentication', action, realm: 'example', user: '*', client: '*', ...extra })
}

export async function setConfig(h: Harness, entries: Record<string, string>): Promise<void> {
  await adminOk(h, '/system/setConfig', entries)
}

export { readOutbox } from './harness.js'

/** `/validate/check` as a POST form. */
export function check(h: Harness, params: Record<string, string>): Promise<Reply> {
  return h.post('/validate/check', params)
}

/** Triggers alice's SMS with her PIN and returns the transaction id (asserting a fresh SMS). */
export async function triggerAlice(h: Harness): Promise<string> {
  const before = (await h.sms()).length
  const r = await check(h, { user: 'alice', pass: ALICE_PIN })
  assert.equal(r.body.result.value, false)
  assert.equal(r.body.detail?.message, 'sms submitted', JSON.stringify(r.body))
  assert.equal((await h.sms()).length, before + 1)
  return r.body.detail.transactionid as string
}

/** The audit records of one endpoint. */
export function auditOf(h: Harness, endpoint: string) {
  return h.audit.filter((a) => a.endpoint === endpoint)
}
