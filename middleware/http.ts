/**
 * Request parsing and LinOTP's JSON envelope, shared by the validate and admin routers.
 *
 * Bodies are read by hand rather than with body-parser so every hostile input gets a precise
 * answer: oversized bodies (413), invalid UTF-8 (raw or percent-encoded), malformed JSON,
 * objects or lists where a value belongs (JSON numbers and booleans are taken as their text),
 * a parameter given twice, over-long fields, a body that is neither a form nor JSON (415).
 * Host apps often run `express.json()` / `express.urlencoded()` first; their `req.body` then
 * stands in for the consumed stream and passes the same checks.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { isIP } from 'node:net'
import { OtpError, ParameterError, isOtpError } from '../src/errors.js'

export const JSONRPC_VERSION = '2.0802'
export const VERSION = 'sms-otp 0.1.0'

/** Largest accepted request body. @default 128 KiB */
export const MAX_BODY_BYTES = 128 * 1024
const MAX_PARAMS = 64
const MAX_DEFAULT_LENGTH = 8 * 1024

/** Per-parameter length limits; anything not listed gets 8 KiB (admin `config` gets 64 KiB). */
export const FIELD_LIMITS: Readonly<Record<string, number>> = {
  user: 256, login: 256, realm: 64, pass: 256, transactionid: 32, state: 32, serial: 64, client: 64,
  data: 800, message: 800, challenge: 800, pin: 128, phone: 40, otpkey: 256, description: 256, name: 64,
  config: 64 * 1024,
}

/** The merged, validated parameters of a request (query string + body). */
export type Params = Readonly<Record<string, string>>

declare module 'express-serve-static-core' {
  interface Request {
    smsOtpParams?: Readonly<Record<string, string>> | undefined
  }
}

/** Reads query and body into `req.smsOtpParams`. */
export function parseParams(): RequestHandler {
  return (req, _res, next) => {
    readParams(req).then((params) => {
      req.smsOtpParams = params
      next()
    }, next)
  }
}

/** Body media types the routers read. A body without `Content-Type` is read as a form (LinOTP clients). */
const FORM_TYPE = 'application/x-www-form-urlencoded'
const JSON_TYPE = 'application/json'

async function readParams(req: Request): Promise<Params> {
  const out: Record<string, string> = {}
  const add = (key: string, value: unknown): void => {
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new ParameterError(`parameter '${key.slice(0, 40)}' given more than once`)
    if (Object.keys(out).length >= MAX_PARAMS) throw new ParameterError(`more than ${MAX_PARAMS} parameters`)
    if (value === null || typeof value === 'object') throw new ParameterError(`parameter '${key.slice(0, 40)}' must be a string`)
    const text = String(value)
    const limit = Object.hasOwn(FIELD_LIMITS, key) ? (FIELD_LIMITS[key] as number) : MAX_DEFAULT_LENGTH
    if (text.length > limit) throw new OtpError('ERR_OTP_REQUEST_TOO_LARGE', `parameter '${key.slice(0, 40)}' longer than ${limit} characters`, { status: 413 })
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw new ParameterError(`parameter name '${key}' is not allowed`)
    out[key] = text
  }
  const url = req.originalUrl
  const q = url.indexOf('?')
  if (q >= 0) for (const [k, v] of decodeForm(url.slice(q + 1))) add(k, v)
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const earlier = parsedEarlier(req)
  if (earlier !== undefined && !Buffer.isBuffer(earlier)) {
    if (Object.keys(earlier).length > 0) {
      supported(type)
      for (const [k, v] of Object.entries(earlier)) add(k, v)
    }
    return Object.freeze(out)
  }
  const body = earlier ?? (await readBody(req))
  if (body.length > 0) {
    supported(type)
    const text = decodeUtf8(body, 'request body')
    if (type === JSON_TYPE) {
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        throw new ParameterError('request body is not valid JSON')
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ParameterError('JSON body must be an object')
      for (const [k, v] of Object.entries(parsed)) add(k, v)
    } else {
      for (const [k, v] of decodeForm(text)) add(k, v)
    }
  }
  return Object.freeze(out)
}

/**
 * What an earlier body parser left when it consumed the stream: its object (express.json(),
 * express.urlencoded()), its bytes (express.raw(), express.text()), or `undefined` when the stream
 * is still ours to read. Reading a consumed stream would yield nothing and silently drop every
 * body parameter, so a consumed stream without a usable `req.body` is an error.
 */
function parsedEarlier(req: Request): Record<string, unknown> | Buffer | undefined {
  if (!req.readableEnded) return undefined
  // Whatever a host middleware put there: narrowed below, never trusted as typed.
  const body: unknown = (req as { body?: unknown }).body
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')
    if (bytes.length > MAX_BODY_BYTES) throw tooLarge() // the host parser's limit may be larger
    return bytes
  }
  if (Array.isArray(body)) throw new ParameterError('JSON body must be an object')
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>
  const declared = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
  if (declared) throw new Error('the request body was consumed by an earlier middleware that left no req.body: mount the sms-otp routers before it')
  return undefined
}

/** Refuses a body the routers do not read (415): a silent `false` would hide the client's mistake. */
function supported(type: string): void {
  if (type === '' || type === FORM_TYPE || type === JSON_TYPE) return
  throw new OtpError('ERR_OTP_UNSUPPORTED_MEDIA_TYPE', `content type '${type.slice(0, 60)}' is not supported: send ${FORM_TYPE} or ${JSON_TYPE}`, { status: 415 })
}

async function readBody(req: Request): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) {
    req.resume()
    throw tooLarge()
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) {
      req.resume()
      throw tooLarge()
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function tooLarge(): OtpError {
  return new OtpError('ERR_OTP_REQUEST_TOO_LARGE', `request body larger than ${MAX_BODY_BYTES} bytes`, { status: 413 })
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new ParameterError(`${what} is not valid UTF-8`)
  }
}

/** application/x-www-form-urlencoded, strict: invalid percent-encoded UTF-8 is an error. */
function* decodeForm(text: string): Generator<[string, string]> {
  for (const part of text.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const rawKey = eq >= 0 ? part.slice(0, eq) : part
    const rawValue = eq >= 0 ? part.slice(eq + 1) : ''
    yield [decodeComponent(rawKey), decodeComponent(rawValue)]
  }
}

function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    throw new ParameterError('a parameter is not valid percent-encoded UTF-8')
  }
}

/** LinOTP's success envelope. */
export function envelope(value: unknown, detail?: Record<string, unknown>, id: unknown = 0, status = true): Record<string, unknown> {
  return {
    jsonrpc: JSONRPC_VERSION,
    result: { status, value },
    version: VERSION,
    id,
    ...(detail !== undefined && Object.keys(detail).length > 0 ? { detail } : {}),
  }
}

/** LinOTP's error envelope, with our stable code. */
export function errorEnvelope(code: string, message: string): Record<string, unknown> {
  return { jsonrpc: JSONRPC_VERSION, result: { status: false, error: { code, message } }, version: VERSION, id: 0 }
}

/** Final error handler: a clear coded answer, never a stack, never a secret. */
export function errorHandler(log: (err: unknown) => void): (err: unknown, req: Request, res: Response, next: NextFunction) => void {
  return (err, _req, res, next) => {
    if (res.headersSent) return next(err)
    if (isOtpError(err)) {
      // The rest of an oversized body may still be in flight: do not reuse this connection.
      if (err.status === 413) res.set('Connection', 'close')
      res.status(err.status).json(errorEnvelope(err.code, err.message))
      return
    }
    log(err)
    res.status(500).json(errorEnvelope('ERR_OTP_INTERNAL', 'internal error'))
  }
}

/** Reads one parameter, `undefined` when absent. */
export function param(p: Params, name: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(p, name) ? p[name] : undefined
}

/** Reads a required parameter. */
export function required(p: Params, name: string): string {
  const v = param(p, name)
  if (v === undefined || v === '') throw new ParameterError(`Missing parameter: '${name}'`)
  return v
}

/** Strips the IPv4-mapped prefix and checks the address. */
export function normaliseIp(address: string | undefined): string | undefined {
  if (address === undefined) return undefined
  const a = address.trim().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '')
  return isIP(a) ? a : undefined
}
