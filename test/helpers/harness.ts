/**
 * A running sidecar for tests: memory store (or a given one), a manual clock, an outbox provider
 * writing to a temp file, the real Express app on a loopback port. Requests go over real HTTP.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '../../src/clock.js'
import { Secrets } from '../../src/crypto/secrets.js'
import { createSidecar, type SidecarOptions } from '../../src/sidecar/app.js'
import { createSmsOtp, type SmsOtp, type SmsOtpOptions } from '../../src/sms-otp.js'
import type { AuditRecord } from '../../src/validate/types.js'
import type { Logger } from '../../src/logger.js'

export const ADMIN_TOKEN = 'test-admin-token-0123456789'

/** A logger that records every line, to check that no secret reaches a log. */
export function recordingLogger(lines: string[]): Logger {
  const make = (bindings: Record<string, unknown>): Logger => {
    const write = (level: string) => (obj: object, msg?: string) => {
      lines.push(JSON.stringify({ level, ...bindings, ...obj, msg }))
    }
    return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (b) => make({ ...bindings, ...b }) }
  }
  return make({})
}

// Responses are arbitrary LinOTP JSON; tests assert on their shape, so `any` keeps them readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = any
export type Reply = { status: number; body: Body }

export interface Harness {
  readonly otp: SmsOtp
  readonly clock: ManualClock
  readonly url: string
  readonly dir: string
  readonly outbox: string
  readonly audit: AuditRecord[]
  readonly logs: string[]
  /** POST form to the sidecar; returns status and parsed JSON (or text). */
  post(path: string, params: Record<string, string>, headers?: Record<string, string>): Promise<Reply>
  /** GET with a query string. */
  get(path: string, params: Record<string, string>): Promise<Reply>
  /** POST to an admin endpoint with the admin bearer token. */
  admin(path: string, params: Record<string, string>): Promise<Reply>
  /** Every SMS the outbox provider delivered: `{ phone, text }`. */
  sms(): Promise<Array<{ phone: string; text: string }>>
  /** The OTP of the last SMS (the first 6 or 8 digit run). */
  lastOtp(): Promise<string>
  close(): Promise<void>
}

export interface HarnessOptions extends Omit<SmsOtpOptions, 'clock' | 'logger' | 'audit'> {
  /** Skip the default outbox provider. */
  readonly noProvider?: boolean
  readonly adminToken?: string | undefined
  /** Further `createSidecar` options (noGet, admin deadline, throttle). */
  readonly sidecar?: Omit<SidecarOptions, 'otp' | 'logger' | 'adminToken'>
}

/** Starts a harness with realm `example` (default) and provider `outbox` (default). */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-test-'))
  const outbox = join(dir, 'outbox.log')
  const clock = new ManualClock()
  const audit: AuditRecord[] = []
  const logs: string[] = []
  const logger = recordingLogger(logs)
  // The test's own temp directory is an allowed path (as `serve --allow-path` would make it), so
  // suites may define FileSMSProviders there through the admin API; everything else stays refused.
  const resources = { ...options.resources, allowPaths: [dir, ...(options.resources?.allowPaths ?? [])] }
  const otp = await createSmsOtp({ secrets: Secrets.ephemeral(), ...options, resources, clock, logger, audit: (r) => audit.push(r) })
  await otp.realms.set('example', true)
  if (!options.noProvider) {
    await otp.providers.set({ name: 'outbox', className: 'FileSMSProvider', config: JSON.stringify({ file: outbox, append: true }), timeout: 120 })
  }
  const app = createSidecar({ ...options.sidecar, otp, adminToken: 'adminToken' in options ? options.adminToken : ADMIN_TOKEN, logger })
  const server: Server = await new Promise((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s))
  })
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`

  const call = async (method: string, path: string, params: Record<string, string>, headers: Record<string, string> = {}) => {
    const query = new URLSearchParams(params).toString()
    const res = await fetch(method === 'GET' ? `${url}${path}?${query}` : `${url}${path}`, {
      method,
      headers: method === 'GET' ? headers : { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      ...(method === 'GET' ? {} : { body: query }),
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // plain text answers (simplecheck)
    }
    return { status: res.status, body }
  }
  const sms = () => readOutbox(outbox)
  return {
    otp, clock, url, dir, outbox, audit, logs,
    post: (path, params, headers) => call('POST', path, params, headers),
    get: (path, params) => call('GET', path, params),
    admin: (path, params) => call('POST', path, params, { authorization: `Bearer ${ADMIN_TOKEN}` }),
    sms,
    async lastOtp() {
      const all = await sms()
      const last = all.at(-1)
      const m = last ? /\d{8}|\d{6}/.exec(last.text) : null
      if (!m) throw new Error('no SMS with an OTP was sent')
      return m[0]
    },
    async close() {
      server.closeAllConnections()
      await new Promise((ok) => server.close(ok))
      await otp.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Lines of a FileSMSProvider outbox written with append=true: `<phone>:<text>` each. */
export async function readOutbox(file: string): Promise<Array<{ phone: string; text: string }>> {
  let text = ''
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return []
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const i = l.indexOf(':')
      return { phone: l.slice(0, i), text: l.slice(i + 1) }
    })
}

/** Enrols alice (PIN 1234) in realm example with a known seed; returns the serial. */
export async function enrolAlice(h: Harness, extra: Record<string, string> = {}): Promise<string> {
  const res = await h.admin('/admin/init', {
    type: 'sms', user: 'alice', realm: 'example', phone: '+4915112345678', pin: '1234',
    otpkey: '3132333435363738393031323334353637383930', serial: 'LSSM0001', ...extra,
  })
  if (res.body?.result?.value !== true) throw new Error(`enrolment failed: ${JSON.stringify(res.body)}`)
  return res.body.detail.serial as string
}
