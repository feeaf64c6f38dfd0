/**
 * A loopback SMTP server for provider tests (package smtp-server): records every accepted
 * message with its raw text and the session it came in on (TLS or not, login, client
 * certificate), can require a login, reject recipients, speak implicit TLS or STARTTLS.
 * Also a TCP server that accepts and never greets, and a tiny RFC 5322 / MIME reader.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server'

export interface ReceivedMail {
  readonly from: string
  readonly to: string[]
  readonly raw: string
  /** The session the message came in on. */
  readonly secure: boolean
  readonly user: string | undefined
  readonly sessionId: string
}

export interface SessionInfo {
  readonly id: string
  secure: boolean
  /** CN of the client certificate, when one was presented. */
  clientCN: string | undefined
}

export interface SmtpTestServerOptions {
  /** Implicit TLS (SMTPS). */
  readonly secure?: boolean
  /** PEM key/cert for TLS (implicit or STARTTLS); without them STARTTLS is not offered. */
  readonly key?: string
  readonly cert?: string
  /** Ask for a client certificate signed by this CA and refuse others. */
  readonly clientCa?: string
  /** Require this login (PLAIN/LOGIN); without it AUTH is not offered. */
  readonly login?: { readonly user: string; readonly pass: string }
  readonly authMethods?: string[]
  /** Reply to RCPT TO with this code (e.g. 550 or 450). */
  readonly rcptError?: number
  /** Never answer RCPT TO (a server that stalls mid-transaction). */
  readonly rcptHang?: boolean
  /** Reply to the end of DATA with this code. */
  readonly dataError?: number
  /** Wait this long after the end of DATA before answering (a slow server). */
  readonly dataDelayMs?: number
}

export interface SmtpTestServer {
  readonly port: number
  readonly messages: ReceivedMail[]
  readonly sessions: SessionInfo[]
  /** Failed login attempts. */
  readonly authFailures: number
  reset(): void
  close(): Promise<void>
}

export async function startSmtpServer(opts: SmtpTestServerOptions = {}): Promise<SmtpTestServer> {
  const messages: ReceivedMail[] = []
  const sessions: SessionInfo[] = []
  const byId = new Map<string, SessionInfo>()
  let authFailures = 0
  const tls = opts.key !== undefined && opts.cert !== undefined
  const options: SMTPServerOptions = {
    logger: false,
    secure: opts.secure ?? false,
    disableReverseLookup: true,
    closeTimeout: 200,
    ...(tls ? { key: opts.key, cert: opts.cert } : {}),
    ...(opts.clientCa !== undefined ? { requestCert: true, rejectUnauthorized: true, ca: opts.clientCa } : {}),
    disabledCommands: [...(tls ? [] : ['STARTTLS']), ...(opts.login === undefined ? ['AUTH'] : [])],
    authOptional: opts.login === undefined,
    allowInsecureAuth: true,
    authMethods: opts.authMethods ?? ['PLAIN', 'LOGIN'],
    onConnect(session, callback) {
      const info: SessionInfo = { id: session.id, secure: session.secure, clientCN: undefined }
      sessions.push(info)
      byId.set(session.id, info)
      callback()
    },
    onSecure(socket, session, callback) {
      const info = byId.get(session.id)
      if (info !== undefined) {
        info.secure = true
        const cn = (socket as TLSSocket).getPeerCertificate?.()?.subject?.CN
        info.clientCN = typeof cn === 'string' ? cn : undefined
      }
      callback()
    },
    onAuth(auth, _session, callback) {
      if (opts.login !== undefined && auth.username === opts.login.user && auth.password === opts.login.pass) {
        return callback(null, { user: auth.username })
      }
      authFailures++
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }))
    },
    onRcptTo(_address, _session, callback) {
      if (opts.rcptHang) return
      if (opts.rcptError !== undefined) return callback(Object.assign(new Error('Recipient rejected'), { responseCode: opts.rcptError }))
      callback()
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      const answer = () => {
        if (opts.dataError !== undefined) return callback(Object.assign(new Error('Message refused'), { responseCode: opts.dataError }))
        messages.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
          sessionId: session.id,
        })
        callback(null, 'Ok: queued as TEST')
      }
      stream.on('end', () => (opts.dataDelayMs === undefined ? answer() : void setTimeout(answer, opts.dataDelayMs)))
    },
  }
  const server = new SMTPServer(options)
  server.on('error', () => {}) // a client that drops the connection mid-handshake is expected in tests
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    messages,
    sessions,
    get authFailures() {
      return authFailures
    },
    reset() {
      messages.length = 0
      sessions.length = 0
      byId.clear()
      authFailures = 0
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/**
 * A raw TCP server for misbehaving peers: `script` gets every accepted socket (default: accept
 * and never say a word).
 */
export async function startSilentServer(script: (socket: Socket) => void = () => {}): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server: Server = createServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    script(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as { port: number }
  return {
    port,
    accepted: () => accepted,
    close() {
      for (const s of sockets) s.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export { freePort } from './assertions.js'

export interface ParsedMail {
  /** Header name (lower case) → values in order, unfolded, RFC 2047 words decoded. */
  readonly headers: ReadonlyMap<string, string[]>
  /** Body after the transfer encoding is undone, line breaks as CRLF. */
  readonly body: string
  header(name: string): string | undefined
}

/** Splits a raw message into headers and body and decodes what nodemailer encodes. */
export function parseMail(raw: string): ParsedMail {
  const split = raw.indexOf('\r\n\r\n')
  const head = split < 0 ? raw : raw.slice(0, split)
  const rawBody = split < 0 ? '' : raw.slice(split + 4)
  const headers = new Map<string, string[]>()
  for (const line of head.replace(/\r\n[ \t]/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = decodeWords(line.slice(colon + 1).trim())
    headers.set(name, [...(headers.get(name) ?? []), value])
  }
  const cte = (headers.get('content-transfer-encoding')?.[0] ?? '7bit').toLowerCase()
  let body = rawBody
  if (cte === 'base64') body = Buffer.from(rawBody.replace(/\s+/g, ''), 'base64').toString('utf8')
  if (cte === 'quoted-printable') body = decodeQp(rawBody)
  return { headers, body: body.replace(/\r\n$/, ''), header: (name) => headers.get(name.toLowerCase())?.[0] }
}

function decodeQp(text: string): string {
  const bytes = text
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => `%${hex}`)
    .replace(/[^%]/g, (c) => encodeURIComponent(c))
  return decodeURIComponent(bytes)
}

function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BQbq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BQbq])\?([^?]*)\?=/g, (_m, _charset: string, enc: string, data: string) =>
      enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQp(data.replace(/_/g, ' ')),
    )
}
