/**
 * The TCP connection to the mail server, opened by us rather than by nodemailer, so the mail
 * server's name goes through the guarded lookup like every other destination (`../net/destinations.ts`):
 * every address it resolves to is judged at connect time (DNS rebinding included), and the address
 * actually connected to is checked once more. nodemailer takes the open socket through its pool's
 * `getSocket` hook, or as `connection` for a single SMTPConnection, and does everything after the
 * TCP connect itself (implicit TLS, STARTTLS, the SMTP session); its own resolver and process-wide
 * DNS cache are not used.
 */
import { connect, type Socket } from 'node:net'
import { checkSocket, destinationError, guardedLookup, type DestinationContext } from '../net/destinations.js'

/**
 * Connects to `host:port` through the guarded lookup. Rejects with the socket's error
 * (`ECONNREFUSED`, `ENOTFOUND` …), a refusal (`code: 'ERR_OTP_RESOURCE_NOT_ALLOWED'`, the reason
 * as message), `ETIMEDOUT` (`timeoutType: 'CONNECT_TIMEOUT'`, as nodemailer's own) after
 * `timeoutMs`, or `EABORT` when `signal` aborts.
 * @example
 * const socket = await openSmtpSocket(ctx, 'mail.example.net', 587, 5000)
 */
export function openSmtpSocket(ctx: DestinationContext, host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(Object.assign(new Error('connection aborted'), { code: 'EABORT' }))
    const socket = connect({ host, port, lookup: guardedLookup(ctx) })
    const cleanup = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.removeListener('error', fail)
    }
    const fail = (err: Error) => {
      cleanup()
      socket.destroy()
      reject(err)
    }
    const onAbort = () => fail(Object.assign(new Error('connection aborted'), { code: 'EABORT' }))
    const timer = setTimeout(() => fail(Object.assign(new Error('Connection timeout'), { code: 'ETIMEDOUT', timeoutType: 'CONNECT_TIMEOUT' })), timeoutMs)
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('error', fail)
    socket.once('connect', () => {
      // Literal addresses skip the lookup; they were judged from the text, and are judged here again.
      const reason = checkSocket(ctx, host, socket.remoteAddress)
      if (reason !== undefined) return fail(destinationError(reason))
      cleanup()
      // nodemailer attaches its own handlers when it takes the socket; until then (and after it
      // lets go of a plain socket upgraded to TLS) a late error must not be an uncaught one.
      socket.on('error', () => undefined)
      resolve(socket)
    })
  })
}
