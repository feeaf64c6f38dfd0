/**
 * Maps nodemailer errors to SendResults. The reason names the step, the error code, the SMTP
 * reply code and the enhanced status code only: error messages and server replies are never
 * copied, because mail servers echo the recipient address (which holds the phone number).
 */
import type { SendResult } from '../types.js'
import { NETWORK_ERROR_TEXT } from '../net/errors.js'

type Failure = Exclude<SendResult, { status: 'sent' }>

interface NodemailerErrorLike {
  code?: unknown
  originalCode?: unknown
  responseCode?: unknown
  response?: unknown
  command?: unknown
  timeoutType?: unknown
  name?: unknown
}

const NETWORK_CODES = NETWORK_ERROR_TEXT

const TIMEOUTS: Record<string, string> = {
  CONNECT_TIMEOUT: 'no connection within TIMEOUT',
  GREETING_TIMEOUT: 'no greeting within TIMEOUT',
  UPGRADE_TIMEOUT: 'TLS handshake not finished within TIMEOUT',
  SOCKET_TIMEOUT: 'server stopped answering',
}

/** OpenSSL verification codes and Node's TLS error codes. */
const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|ERR_TLS_|ERR_SSL_)/

const STEPS: Record<string, string> = {
  'MAIL FROM': 'the sender',
  'RCPT TO': 'the recipient',
  DATA: 'the message',
  AUTH: 'the login',
  STARTTLS: 'STARTTLS',
  CONN: 'the connection',
  EHLO: 'EHLO',
  HELO: 'HELO',
}
/** Refusals of the session itself: about this server (or our address), not about the message. */
const SESSION_COMMANDS = new Set(['CONN', 'EHLO', 'HELO', 'LHLO'])

/**
 * Classifies a failed send or connection check.
 * - unavailable (fail over): a destination the resource policy refuses (its reason as it is),
 *   network and DNS failures, timeouts, TLS failures (including a
 *   server that does not offer STARTTLS when `start_tls` is set), unexpected replies, a server
 *   that refuses the session itself (greeting or EHLO answered with an error), and every SMTP
 *   4xx and 421 reply (temporary: another provider may deliver now), and a refused or missing
 *   login (535, 530, no AUTH offered): our credentials, not the message, are at fault.
 * - rejected: SMTP 5xx replies to MAIL FROM, RCPT TO or DATA (the server refused this sender,
 *   recipient or message: retrying elsewhere is pointless or the configuration must be fixed).
 */
export function classifySmtpError(err: unknown): Failure {
  const e = (typeof err === 'object' && err !== null ? err : {}) as NodemailerErrorLike
  const code = typeof e.code === 'string' ? e.code : undefined
  const original = typeof e.originalCode === 'string' ? e.originalCode : undefined
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined
  const command = typeof e.command === 'string' ? e.command.toUpperCase() : undefined
  const enhanced = typeof e.response === 'string' ? /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(e.response)?.[1] : undefined
  const smtp = reply === undefined ? '' : ` (SMTP ${reply}${enhanced === undefined ? '' : ` ${enhanced}`})`

  // A destination the policy refuses (`socket.ts`): our own text, naming host and address only.
  if (code === 'ERR_OTP_RESOURCE_NOT_ALLOWED' && err instanceof Error) return unavailable(err.message)
  if (code === 'ETIMEDOUT') {
    const type = typeof e.timeoutType === 'string' ? e.timeoutType : ''
    return unavailable(`${TIMEOUTS[type] ?? 'timed out'} (ETIMEDOUT)`)
  }
  for (const c of [original, code]) {
    if (c !== undefined && TLS_CODE.test(c)) return unavailable(`TLS failure (${c})`)
  }
  if (original !== undefined && original in NETWORK_CODES) return unavailable(`${NETWORK_CODES[original]} (${original})`)
  if (code !== undefined && code in NETWORK_CODES) return unavailable(`${NETWORK_CODES[code]} (${code})`)
  if (code === 'EDNS') return unavailable(`host name lookup failed (${original ?? code})`)
  if (code === 'ETLS' || command === 'STARTTLS') {
    return unavailable(reply === undefined ? `TLS failure (${original ?? 'ETLS'})` : `server refused STARTTLS${smtp}`)
  }
  if (code === 'EABORT' || e.name === 'AbortError') return unavailable('send aborted')

  if (reply !== undefined) {
    const step = command === undefined ? 'the request' : (STEPS[command] ?? STEPS[command.split(' ')[0] ?? ''] ?? `the ${command} command`)
    if (code === 'EAUTH' || command?.startsWith('AUTH')) {
      // Our credentials, not this message, are refused: another provider may well deliver.
      return reply >= 500
        ? unavailable(`login refused${smtp}; check mailuser/mailpassword and that the server offers AUTH`)
        : unavailable(`login temporarily refused${smtp}`)
    }
    if (command !== undefined && SESSION_COMMANDS.has(command)) return unavailable(`server refused ${step}${smtp}`)
    if (reply === 530) return unavailable(`server requires a login for ${step}${smtp}; set mailuser/mailpassword`)
    if (reply === 421 || (reply >= 400 && reply < 500)) return unavailable(`server temporarily refused ${step}${smtp}`)
    if (reply >= 500 && reply < 600) return rejected(`server refused ${step}${smtp}`)
    return unavailable(`unexpected server reply to ${step}${smtp}`)
  }
  if (code === 'EAUTH' || code === 'ENOAUTH') return unavailable(`login failed (${code})`)
  if (code === 'ECONNECTION' || code === 'ESOCKET' || code === 'EPROTOCOL') {
    return unavailable(`${code === 'EPROTOCOL' ? 'unexpected server reply' : 'connection failed'} (${original ?? code})`)
  }
  return rejected(`send failed (${code ?? (typeof e.name === 'string' ? e.name : typeof err)})`)
}

function unavailable(reason: string): Failure {
  return { status: 'unavailable', reason }
}

function rejected(reason: string): Failure {
  return { status: 'rejected', reason }
}
