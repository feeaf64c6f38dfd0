/**
 * One persistent SMPP `bind_transceiver` shared by every send of a provider instance: opened lazily
 * by the first request, kept alive with `enquire_link` when idle, re-opened with back-off (1 s
 * doubling to 60 s) after the SMSC drops it, closed with `unbind` by {@link SmppClient.close}.
 * A send during the back-off does not sit it out: it brings the next attempt forward, though never
 * closer than `reconnectMinMs` to the previous one (the SMSC may be back long before the timer).
 * Outstanding `submit_sm` PDUs are bounded by a {@link RequestWindow}; each PDU has a response timeout.
 *
 * Every failure is an {@link SmppUnavailableError} whose message is safe for logs and reasons
 * (host, port and SMPP status names only; never credentials, phone numbers or texts).
 */
import type { LookupFunction } from 'node:net'
import type { Logger } from '../../logger.js'
import { connectSmpp, createPdu, describeStatus, SmppStatus, type SmppPdu, type SmppSession } from './lib.js'
import { RequestWindow, WindowClosedError } from './window.js'

/** What the client needs to know about the SMSC. */
export interface SmppClientOptions {
  readonly host: string
  readonly port: number
  readonly systemId: string
  readonly password: string
  readonly systemType: string
  /** TCP connect limit. */
  readonly connectTimeoutMs: number
  /** Limit for each response PDU (bind, submit, enquire_link, unbind). */
  readonly responseTimeoutMs: number
  /** Outstanding submit_sm PDUs at most. */
  readonly window: number
  /** Idle time after which an enquire_link is sent. */
  readonly enquireLinkMs: number
  /**
   * First reconnect delay after a lost bind; also the shortest gap between two connection
   * attempts that sends bring forward. @default 1000
   */
  readonly reconnectMinMs?: number
  /** Longest reconnect delay. @default 60000 */
  readonly reconnectMaxMs?: number
  /** Resolver for the SMSC's name; `../net/destinations.ts` refuses addresses the policy does not allow. @default dns.lookup */
  readonly lookup?: LookupFunction
}

/** The SMSC cannot be used right now; the dispatcher should fail over. */
export class SmppUnavailableError extends Error {
  /** True when the SMSC refused the bind (credentials): no background reconnect loop then. */
  readonly bindRefused: boolean
  constructor(message: string, bindRefused = false) {
    super(message)
    this.name = 'SmppUnavailableError'
    this.bindRefused = bindRefused
  }
}

interface Link {
  readonly session: SmppSession
  bound: boolean
  /** Rejecters of the requests waiting for a response on this link. */
  readonly pending: Set<(err: Error) => void>
  readonly closed: Promise<void>
  idle?: NodeJS.Timeout
}

interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(err: Error): void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: Error) => void
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok
    reject = fail
  })
  promise.catch(() => undefined) // nobody may be waiting
  return { promise, resolve, reject }
}

/** Rejects with `SmppUnavailableError(message)` when the signal aborts or `ms` pass first. */
function race<T>(promise: Promise<T>, signal: AbortSignal, ms?: number, message = 'timed out'): Promise<T> {
  if (signal.aborted) return Promise.reject(new SmppUnavailableError('send aborted'))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => done(() => reject(new SmppUnavailableError('send aborted')))
    const timer = ms === undefined ? undefined : setTimeout(() => done(() => reject(new SmppUnavailableError(message))), ms)
    const done = (fn: () => void) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      fn()
    }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then((v) => done(() => resolve(v)), (err: unknown) => done(() => reject(err)))
  })
}

export class SmppClient {
  readonly #o: SmppClientOptions
  readonly #log: Logger
  readonly #onDeliver: (pdu: SmppPdu) => void
  readonly #window: RequestWindow
  readonly #where: string
  #link: Link | undefined
  #attempt: Promise<Link> | undefined
  /** Set while a lost bind is being re-established in the background. */
  #reconnecting = false
  #retryTimer: NodeJS.Timeout | undefined
  /** When the scheduled retry fires (epoch ms). */
  #retryAt = 0
  /** When the last connection attempt started (epoch ms). */
  #lastAttemptAt = 0
  #next: Deferred<Link> | undefined
  #delayMs: number
  #binds = 0
  #closing: Promise<void> | undefined

  /** @param onDeliver receives each `deliver_sm` after it has been acknowledged. */
  constructor(options: SmppClientOptions, log: Logger, onDeliver: (pdu: SmppPdu) => void) {
    this.#o = options
    this.#log = log
    this.#onDeliver = onDeliver
    this.#window = new RequestWindow(options.window)
    this.#where = `${options.host}:${options.port}`
    this.#delayMs = this.#minGapMs
  }

  /** Successful binds so far (diagnostics). */
  get binds(): number {
    return this.#binds
  }

  /** Ensures the bind is up, opening it (or bringing the scheduled reconnect forward and waiting for it). */
  async ensureBound(signal: AbortSignal): Promise<void> {
    await this.#bound(signal)
  }

  /**
   * Sends one `submit_sm` inside the window and returns the response PDU, whatever its status.
   * @throws SmppUnavailableError when the bind is down, the response times out, the link drops or `signal` aborts.
   */
  async submit(params: Record<string, unknown>, signal: AbortSignal): Promise<SmppPdu> {
    if (this.#closing) throw new SmppUnavailableError('provider is closed')
    try {
      await this.#window.acquire(signal)
    } catch (err) {
      throw new SmppUnavailableError(err instanceof WindowClosedError ? err.message : 'SMPP window error')
    }
    let request: Promise<SmppPdu> | undefined
    try {
      const link = await this.#bound(signal)
      request = this.#request(link, 'submit_sm', params)
    } finally {
      // The slot stays taken while the PDU is outstanding, even if the caller stops waiting.
      if (request === undefined) this.#window.release()
      else request.then(() => this.#window.release(), () => this.#window.release())
    }
    return race(request, signal)
  }

  /** Unbinds, then destroys the socket. Idempotent; pending and later sends are unavailable. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    clearTimeout(this.#retryTimer)
    this.#reconnecting = false
    const closed = new SmppUnavailableError('provider is closed')
    this.#next?.reject(closed)
    this.#next = undefined
    this.#window.failAll(closed)
    const link = this.#link
    if (link === undefined) return
    if (link.bound) {
      try {
        await this.#request(link, 'unbind', {}, Math.min(this.#o.responseTimeoutMs, 2000))
      } catch {
        // the SMSC may already be gone; the socket is destroyed anyway
      }
    }
    link.session.destroy()
    await link.closed
  }

  async #bound(signal: AbortSignal): Promise<Link> {
    if (this.#closing) throw new SmppUnavailableError('provider is closed')
    if (this.#link?.bound) return this.#link
    if (this.#attempt) return race(this.#attempt, signal)
    const next = this.#next
    if (next) {
      // After a long outage the back-off timer may be a minute away although the SMSC is back:
      // someone wants to send now, so try now, but not more often than once per reconnectMinMs.
      const soonest = Math.max(Date.now(), this.#lastAttemptAt + this.#minGapMs)
      if (soonest < this.#retryAt) this.#armRetry(next, soonest - Date.now())
      return race(next.promise, signal)
    }
    return race(this.#startAttempt(), signal)
  }

  get #minGapMs(): number {
    return this.#o.reconnectMinMs ?? 1000
  }

  #startAttempt(): Promise<Link> {
    this.#lastAttemptAt = Date.now()
    const attempt = this.#open().then(
      (link) => {
        this.#attempt = undefined
        this.#reconnecting = false
        this.#delayMs = this.#minGapMs
        this.#binds++
        return link
      },
      (err: unknown) => {
        this.#attempt = undefined
        const e = err instanceof SmppUnavailableError ? err : new SmppUnavailableError('connection failed')
        this.#log.warn({ smsc: this.#where, reason: e.message }, 'SMPP bind failed')
        // A refused bind is not retried in the background: repeated wrong passwords can lock the account.
        if (this.#reconnecting && !e.bindRefused && !this.#closing) this.#scheduleRetry()
        else this.#reconnecting = false
        throw e
      },
    )
    attempt.catch(() => undefined) // callers get the rejection through their own race
    this.#attempt = attempt
    return attempt
  }

  #scheduleRetry(): void {
    const delay = this.#delayMs
    this.#delayMs = Math.min(delay * 2, this.#o.reconnectMaxMs ?? 60_000)
    const next = deferred<Link>()
    this.#next = next
    this.#armRetry(next, delay)
  }

  /** (Re)sets the timer of the scheduled retry `next` to fire in `ms`. */
  #armRetry(next: Deferred<Link>, ms: number): void {
    clearTimeout(this.#retryTimer)
    this.#retryAt = Date.now() + ms
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#next = undefined
      this.#startAttempt().then(next.resolve, next.reject)
    }, ms)
    this.#retryTimer.unref() // a forgotten provider must not keep the process alive
  }

  /** Connects and binds as transceiver. */
  #open(): Promise<Link> {
    return new Promise<Link>((resolve, reject) => {
      const session = connectSmpp(this.#o.host, this.#o.port, this.#o.lookup)
      const link: Link = { session, bound: false, pending: new Set(), closed: new Promise((r) => session.once('close', () => r())) }
      this.#link = link
      let settled = false
      let lastError = ''
      let connected = false
      const fail = (message: string, bindRefused = false) => {
        if (settled) return
        settled = true
        clearTimeout(connectTimer)
        session.destroy()
        reject(new SmppUnavailableError(message, bindRefused))
      }
      const connectTimer = setTimeout(() => fail(`no connection to the SMSC at ${this.#where} within ${this.#o.connectTimeoutMs} ms`), this.#o.connectTimeoutMs)
      session.on('error', (err: NodeJS.ErrnoException) => {
        // A refused destination (destinations.ts) is a finished reason; other errors give their code.
        lastError = err.code === 'ERR_OTP_RESOURCE_NOT_ALLOWED' ? err.message : (err.code ?? 'protocol error')
        // A PDU the package cannot parse leaves its reader stuck: drop the link (and reconnect).
        session.destroy()
      })
      session.on('close', () => {
        const cause = lastError ? ` (${lastError})` : ''
        fail(connected ? `the SMSC at ${this.#where} closed the connection during the bind${cause}` : `cannot connect to the SMSC at ${this.#where}${cause}`)
        this.#onClosed(link)
      })
      session.on('pdu', (pdu: SmppPdu) => this.#onPdu(link, pdu))
      session.on('connect', () => {
        clearTimeout(connectTimer)
        connected = true
        if (settled) return
        session.socket.unref() // the bind alone must not keep the process alive; requests hold timers
        // Small request/response PDUs: Nagle's algorithm would hold a submit_sm back until the
        // previous response's ACK, adding up to a round trip per message under load.
        session.socket.setNoDelay(true)
        const bind = { system_id: this.#o.systemId, password: this.#o.password, system_type: this.#o.systemType, interface_version: 0x34 }
        this.#request(link, 'bind_transceiver', bind).then(
          (resp) => {
            if (settled) return
            if (resp.command_status !== SmppStatus.OK) return fail(`SMSC refused the bind: ${describeStatus(resp.command_status)}`, true)
            settled = true
            link.bound = true
            this.#armIdle(link)
            this.#log.info({ smsc: this.#where, systemId: this.#o.systemId }, 'SMPP bind established')
            resolve(link)
          },
          (err: unknown) => fail(err instanceof Error ? `bind: ${err.message}` : 'bind failed'),
        )
      })
    })
  }

  /** Sends a request on a link and waits for its response (any status). */
  #request(link: Link, command: string, params: Record<string, unknown>, timeoutMs = this.#o.responseTimeoutMs): Promise<SmppPdu> {
    return new Promise<SmppPdu>((resolve, reject) => {
      let done = false
      const finish = (fn: () => void) => {
        if (done) return
        done = true
        clearTimeout(timer)
        link.pending.delete(onLost)
        fn()
      }
      const onLost = (err: Error) => finish(() => reject(err))
      const timer = setTimeout(() => onLost(new SmppUnavailableError(`no ${command}_resp from the SMSC within ${timeoutMs} ms`)), timeoutMs)
      link.pending.add(onLost)
      if (!link.session.send(createPdu(command, params), (resp) => finish(() => resolve(resp)))) {
        onLost(new SmppUnavailableError('connection to the SMSC is not writable'))
      }
    })
  }

  #onPdu(link: Link, pdu: SmppPdu): void {
    // An exception escaping into the package's reader would leave that reader stuck for good.
    try {
      this.#handlePdu(link, pdu)
    } catch (err) {
      this.#log.error({ smsc: this.#where, command: pdu.command, error: err instanceof Error ? err.name : typeof err }, 'failed to handle an SMPP PDU')
    }
  }

  #handlePdu(link: Link, pdu: SmppPdu): void {
    if (link.bound) this.#armIdle(link)
    if (pdu.isResponse()) return // matched to its request by the package
    const reply = (p: SmppPdu) => link.session.send(p)
    switch (pdu.command) {
      case 'enquire_link':
        reply(pdu.response())
        return
      case 'deliver_sm':
        reply(pdu.response({ message_id: '' }))
        this.#onDeliver(pdu)
        return
      case 'unbind':
        this.#log.warn({ smsc: this.#where }, 'SMSC unbound the session')
        reply(pdu.response())
        link.session.close()
        return
      case 'alert_notification':
        return // has no response PDU
      default:
        try {
          reply(pdu.response({ command_status: SmppStatus.INVALID_COMMAND_ID }))
        } catch {
          // no *_resp for this command in the package: answer with generic_nack
          reply(createPdu('generic_nack', { sequence_number: pdu.sequence_number, command_status: SmppStatus.INVALID_COMMAND_ID }))
        }
    }
  }

  /** (Re)starts the idle timer; when it fires, an enquire_link checks that the SMSC still answers. */
  #armIdle(link: Link): void {
    clearTimeout(link.idle)
    link.idle = setTimeout(() => {
      this.#request(link, 'enquire_link', {}).catch((err: unknown) => {
        if (this.#link !== link || this.#closing) return
        this.#log.warn({ smsc: this.#where, reason: err instanceof Error ? err.message : 'error' }, 'SMPP keep-alive failed; reconnecting')
        link.session.destroy()
      })
    }, this.#o.enquireLinkMs)
    link.idle.unref()
  }

  #onClosed(link: Link): void {
    clearTimeout(link.idle)
    const lost = new SmppUnavailableError(`connection to the SMSC at ${this.#where} lost`)
    for (const fail of [...link.pending]) fail(lost)
    if (this.#link !== link) return
    this.#link = undefined
    if (!link.bound || this.#closing) return
    link.bound = false
    this.#log.warn({ smsc: this.#where }, 'SMPP connection lost; reconnecting')
    this.#reconnecting = true
    this.#scheduleRetry()
  }
}
