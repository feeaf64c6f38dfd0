/**
 * The audit of the admin API: one record per `/admin/*` and `/system/*` request, written to the
 * engine's audit sink (`otp.audit`, the same stream as the validate records) when the answer has
 * been sent or the connection closed, however the request ended (success, refusal, error, 504).
 *
 * The record holds the endpoint, the client's TCP address, the result, the time, the action and
 * the selection (serial, user, realm; provider, policy or realm name; config key names; a masked
 * phone). Never the admin token, a PIN, an otpkey, a provider config or a config value.
 */
import type { Request, RequestHandler, Response } from 'express'
import { isOtpError } from '../src/errors.js'
import { maskPhone } from '../src/phone/mask.js'
import type { SmsOtp } from '../src/sms-otp.js'
import { normaliseIp, param, type Params } from './http.js'

/** What an admin request did, filled in as it goes through the guard and the route. */
export interface AdminNote {
  action: string
  user: string
  realm: string
  serial: string
  target: Record<string, string>
  /** False when the request was processed but did not do what was asked (`value: false`). */
  ok: boolean
  reason: string
  /** Only the error code goes into `reason` (provider errors may quote gateway replies). */
  codeOnly: boolean
  /** No record for this request (a blocked request inside an already recorded burst). */
  silent: boolean
  /** Writes an extra record when the operation finished after its 504 answer. */
  late: (ok: boolean) => void
}

const notes = new WeakMap<Response, AdminNote>()

/** The note of this admin request (a blank one outside the admin router). */
export function noteOf(res: Response): AdminNote {
  let note = notes.get(res)
  if (note === undefined) {
    note = { action: 'request refused', user: '', realm: '', serial: '', target: {}, ok: true, reason: '', codeOnly: false, silent: false, late: () => {} }
    notes.set(res, note)
  }
  return note
}

/** Starts the audit of every request under `/<area>`; install it before the credential check. */
export function auditAdmin(otp: SmsOtp, area: 'admin' | 'system'): RequestHandler {
  return (req, res, next) => {
    const note = noteOf(res)
    const client = normaliseIp(req.socket.remoteAddress) ?? ''
    const fallback = safeEndpoint(`${area}${req.path}`)
    const record = (result: boolean, reason: string): void => {
      const route: unknown = (req as Request & { route?: { path?: unknown } }).route?.path
      const endpoint = typeof route === 'string' ? safeEndpoint(route.replace(/^\//, '')) : fallback
      const target = Object.keys(note.target).length > 0 ? { target: { ...note.target } } : {}
      otp.audit({
        endpoint, client, result, time: new Date(otp.core.clock.now()).toISOString(),
        user: note.user, realm: note.realm, serial: note.serial, action: note.action, reason, ...target,
      })
    }
    let written = false
    const write = (closedEarly: boolean): void => {
      if (written) return
      written = true
      if (note.silent) return
      const status = res.statusCode
      const failed = closedEarly || status >= 400 || !note.ok
      const reason = note.reason || (closedEarly ? 'connection closed before the answer' : status >= 400 ? `HTTP ${status}` : '')
      record(!failed, failed ? reason : '')
    }
    note.late = (ok) => record(ok, `finished after its deadline (the caller got 504)${note.reason && !ok ? `: ${note.reason}` : ''}`)
    res.once('finish', () => write(false))
    res.once('close', () => write(!res.writableFinished))
    next()
  }
}

/** Router-level error middleware: puts the error into the note, then passes it on. */
export function noteError(): (err: unknown, req: Request, res: Response, next: (err?: unknown) => void) => void {
  return (err, _req, res, next) => {
    const note = noteOf(res)
    note.reason = isOtpError(err) ? (note.codeOnly ? err.code : `${err.code}: ${err.message}`) : 'internal error'
    if (res.headersSent) {
      // The deadline answered already; the operation failed late.
      note.late(false)
      return
    }
    next(err)
  }
}

/** Records what the request selects; runs after the parameters were parsed. */
export function noteSelection(endpoint: string, q: Params, note: AdminNote): void {
  const take = (name: string, max = 64): string | undefined => param(q, name)?.slice(0, max)
  note.user = take('user', 256) ?? ''
  note.realm = take('realm') ?? ''
  note.serial = take('serial') ?? ''
  const target: Record<string, string> = {}
  for (const name of ['name', 'class', 'key', 'scope', 'type', 'default']) {
    const v = take(name, 128)
    if (v !== undefined) target[name] = v
  }
  const phone = param(q, 'phone')
  if (phone !== undefined) target.phone = maskPhone(phone)
  if (endpoint === 'system/setConfig') target.keys = Object.keys(q).join(',').slice(0, 1024)
  if (endpoint === 'admin/set') target.fields = ['pin', 'phone', 'MaxFailCount'].filter((f) => param(q, f) !== undefined).join(',')
  if (endpoint === 'admin/init' && param(q, 'genkey') !== undefined) target.genkey = 'true'
  note.target = target
}

function safeEndpoint(path: string): string {
  return path.slice(0, 80).replace(/[^A-Za-z0-9_./-]/g, '?')
}
