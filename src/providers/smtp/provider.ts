/**
 * LinOTP's SmtpSMSProvider: the SMS as an e-mail to an e-mail-to-SMS gateway (spec §3.3), with
 * `<phone>` and `<otp>` replaced in `mailto`, `subject` and `body`. Sent through a nodemailer
 * SMTP pool, so consecutive SMS reuse an open (already TLS-secured, logged-in) connection.
 *
 * Deviations from LinOTP, on purpose:
 * - `mailserver`, `mailsender` and `mailto` are required at load (LinOTP fails every send).
 * - Configured credentials are always used: a server that does not offer AUTH refuses the login
 *   and the send is rejected (LinOTP sends without login and only logs it).
 * - With `start_tls` false the connection is never upgraded, even when the server offers STARTTLS
 *   (as LinOTP); with it true a server without STARTTLS is a failure, never a plaintext send.
 * - The message is a proper MIME mail (Date, Message-ID, UTF-8), not LinOTP's bare three headers.
 * - A phone number or SMS text that could change the mail's headers or recipients is refused.
 */
import { setMaxListeners } from 'node:events'
import type { ConnectionOptions } from 'node:tls'
import { createTransport } from 'nodemailer'
import SMTPConnection from 'nodemailer/lib/smtp-connection'
import type { SMTPPoolOptions } from 'nodemailer/lib/smtp-pool'
import { maskPhone } from '../../phone/mask.js'
import { LOCAL } from '../resources.js'
import { parseSmtpConfig, type SmtpOptions } from './config.js'
import { classifySmtpError } from './errors.js'
import { openSmtpSocket } from './socket.js'
import { composeMail } from './message.js'
import { SendSlots } from './slots.js'
import type { ProviderClass, SendResult, SmsProvider } from '../types.js'

export { parseMailserver, type SmtpOptions, type SmtpSecurity } from './config.js'
export { classifySmtpError } from './errors.js'
export { composeMail, substituteTags } from './message.js'

/** Open connections per provider, and sends in progress at once (the rest wait their turn). */
const MAX_CONNECTIONS = 5
/** An idle pooled connection is closed after this long (servers drop idle clients anyway). */
const IDLE_MS = 60_000
/** Setup takes at most TIMEOUT; the rest of one send (AUTH … DATA) gets this many more. */
const EXCHANGE_TIMEOUTS = 2

/** Connection options shared by the pool and by `test()`. */
function connectionOptions(options: SmtpOptions) {
  const tls: ConnectionOptions = { rejectUnauthorized: options.trust.rejectUnauthorized, minVersion: 'TLSv1.2' }
  if (options.trust.ca !== undefined) tls.ca = [...options.trust.ca]
  if (options.clientCert !== undefined) Object.assign(tls, options.clientCert)
  return {
    host: options.host,
    port: options.port,
    // Set explicitly: nodemailer would otherwise guess implicit TLS from port 465.
    secure: options.security === 'tls',
    requireTLS: options.security === 'starttls',
    // No opportunistic upgrade with start_tls false (LinOTP does not upgrade either).
    ignoreTLS: options.security === 'none',
    tls,
    // connectionTimeout covers DNS, connect, TLS, greeting and STARTTLS together.
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    dnsTimeout: options.timeoutMs,
    socketCloseTimeout: Math.min(options.timeoutMs, 2000),
    // nodemailer's logger would print recipient addresses, which hold the phone number.
    logger: false,
    debug: false,
    transactionLog: false,
  } as const
}

export const SmtpSmsProviderClass: ProviderClass<SmtpOptions> = {
  id: 'SmtpSMSProvider',
  parse: parseSmtpConfig,
  create(options, ctx): SmsProvider {
    const log = ctx.logger.child({ class: 'SmtpSMSProvider' })
    const server = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`
    const auth = options.auth === undefined ? undefined : { user: options.auth.user, pass: options.auth.pass }
    // Every connection is opened through the guarded lookup (`socket.ts`); the pool's connect
    // deadline runs from when it asked for the socket.
    const guard = ctx.resources ?? LOCAL
    const poolOptions: SMTPPoolOptions & { pool: true } = {
      ...connectionOptions(options),
      pool: true,
      getSocket(o, callback) {
        const started = (o as { connectStartedAt?: unknown }).connectStartedAt
        const left = options.timeoutMs - (typeof started === 'number' ? Date.now() - started : 0)
        openSmtpSocket(guard, options.host, options.port, Math.max(left, 1), closing.signal).then(
          (socket) => callback(null, { connection: socket }),
          (err: Error) => callback(err, undefined),
        )
      },
      maxConnections: MAX_CONNECTIONS,
      idleTimeout: IDLE_MS,
      // Inactivity on an active send is bounded by the per-send deadline; this one only ends
      // idle pooled connections (slightly after the pool's own idle timeout).
      socketTimeout: IDLE_MS + 5000,
      // A message is retried on a new connection only when not a byte of it was sent.
      maxRequeues: 2,
      ...(auth !== undefined && { auth, forceAuth: true }),
      disableFileAccess: true,
      disableUrlAccess: true,
    }
    const closing = new AbortController()
    // Builds the pool only: no connection is opened before the first send.
    const mailer = createTransport(poolOptions)
    mailer.on('error', (err: unknown) => log.debug({ server, ...classifySmtpError(err) }, 'smtp transport error'))
    // Every send and test() in progress or waiting listens here until it ends; there is no leak
    // to warn about, however many there are.
    setMaxListeners(0, closing.signal)
    const slots = new SendSlots(MAX_CONNECTIONS)
    const checks = new Set<SMTPConnection>()
    const deadlineMs = options.timeoutMs * (1 + EXCHANGE_TIMEOUTS)
    let closed: Promise<void> | undefined

    return {
      async send(msg, signal): Promise<SendResult> {
        const started = Date.now()
        let queuedMs: number | undefined
        const done = (result: SendResult, code?: string): SendResult => {
          log.debug({ server, phone: maskPhone(msg.phone), ms: Date.now() - started, queuedMs, result: result.status, code, transactionId: msg.transactionId }, 'smtp send finished')
          return result
        }
        if (closing.signal.aborted) return done({ status: 'unavailable', reason: 'provider is closed' })
        if (signal.aborted) return done({ status: 'unavailable', reason: 'send aborted' })
        const mail = composeMail(options, msg.phone, msg.text)
        if (!mail.ok) return done({ status: 'rejected', reason: mail.reason })

        // One controller per send, fed by the caller's signal, close() and the deadline; the
        // listeners are removed afterwards so nothing accumulates on the long-lived signals.
        const stop = new AbortController()
        let why: 'aborted' | 'closed' | 'deadline' | undefined
        const stopper = (cause: NonNullable<typeof why>) => () => {
          why ??= cause
          stop.abort()
        }
        const onAbort = stopper('aborted')
        const onClose = stopper('closed')
        signal.addEventListener('abort', onAbort)
        closing.signal.addEventListener('abort', onClose)
        let timer: NodeJS.Timeout | undefined
        let held = false
        const stopped = (): SendResult | undefined => {
          if (why === 'closed') return done({ status: 'unavailable', reason: 'provider is closed' }, 'EABORT')
          if (why === 'aborted') return done({ status: 'unavailable', reason: 'send aborted' }, 'EABORT')
          if (why === 'deadline') return done({ status: 'unavailable', reason: `no answer within ${deadlineMs / 1000} s (ETIMEDOUT)` }, 'ETIMEDOUT')
          return undefined
        }
        try {
          // Waiting for a pooled connection is bounded only by the caller's signal and close():
          // the deadline is for this message's exchange, not for the messages queued before it.
          held = await slots.acquire(stop.signal)
          queuedMs = Date.now() - started
          if (!held) return stopped() ?? done({ status: 'unavailable', reason: 'send aborted' }, 'EABORT')
          timer = setTimeout(stopper('deadline'), deadlineMs)
          const info = await mailer.sendMail({
            from: { name: options.sender.name, address: options.sender.address },
            to: { name: mail.to.name, address: mail.to.address },
            subject: mail.subject,
            text: mail.body,
            envelope: { from: options.sender.address, to: [mail.to.address] },
            xMailer: false,
            signal: stop.signal,
          })
          return done({ status: 'sent', gatewayId: info.messageId })
        } catch (err) {
          const result = stopped()
          if (result !== undefined) return result
          const code = (err as { code?: unknown }).code
          return done(classifySmtpError(err), typeof code === 'string' ? code : undefined)
        } finally {
          clearTimeout(timer)
          if (held) slots.release()
          signal.removeEventListener('abort', onAbort)
          closing.signal.removeEventListener('abort', onClose)
        }
      },

      /** Connects, secures, logs in and quits: what `/system/testProvider` reports. */
      test(signal): Promise<SendResult> {
        if (closing.signal.aborted) return Promise.resolve({ status: 'unavailable', reason: 'provider is closed' })
        return new Promise<SendResult>((resolve) => {
          let settled = false
          let conn: SMTPConnection | undefined
          const opening = new AbortController()
          const finish = (result: SendResult, quit = false) => {
            if (settled) return
            settled = true
            cleanup()
            opening.abort()
            if (conn !== undefined) {
              if (quit) conn.quit()
              else conn.close()
              checks.delete(conn)
            }
            log.debug({ server, result: result.status }, 'smtp connection test finished')
            resolve(result)
          }
          const onAbort = () => finish({ status: 'unavailable', reason: closing.signal.aborted ? 'provider is closed' : 'test aborted' })
          const deadline = setTimeout(() => finish({ status: 'unavailable', reason: `no answer within ${deadlineMs / 1000} s (ETIMEDOUT)` }), deadlineMs)
          const cleanup = () => {
            clearTimeout(deadline)
            signal.removeEventListener('abort', onAbort)
            closing.signal.removeEventListener('abort', onAbort)
          }
          signal.addEventListener('abort', onAbort)
          closing.signal.addEventListener('abort', onAbort)
          if (signal.aborted) return onAbort()
          openSmtpSocket(guard, options.host, options.port, options.timeoutMs, opening.signal).then((socket) => {
            if (settled) return void socket.destroy()
            const c = new SMTPConnection({ ...connectionOptions(options), socketTimeout: options.timeoutMs, connection: socket })
            conn = c
            checks.add(c)
            // `on`, not `once`: a second error after the first must still have a listener.
            c.on('error', (err) => finish(classifySmtpError(err)))
            c.once('end', () => finish({ status: 'unavailable', reason: 'connection closed by the server' }))
            c.connect((err) => {
              if (err) return finish(classifySmtpError(err))
              if (auth === undefined) return finish({ status: 'sent' }, true)
              c.login(auth, (loginErr) => finish(loginErr ? classifySmtpError(loginErr) : { status: 'sent' }, !loginErr))
            })
          }, (err: unknown) => finish(classifySmtpError(err)))
        })
      },

      close(): Promise<void> {
        closed ??= (async () => {
          closing.abort()
          mailer.close({ force: true })
          for (const conn of checks) conn.close()
          checks.clear()
        })()
        return closed
      },
    }
  },
}
