/**
 * The AT command channel on a serial port (3GPP TS 27.007 / 27.005): one command at a time, its
 * information lines collected until a final result code, every wait bounded by a timeout and the
 * caller's AbortSignal. `serialport` (a native addon) is loaded on the first open only, so
 * configurations that never use native mode never load it.
 */
import type { SerialPort } from 'serialport'
import { describeAtFinal, type AtFinal } from './at-codes.js'

export type { AtFinal } from './at-codes.js'

/** Why a command did not end in OK. `command` is safe to show (a PIN is masked). */
export class AtFailure extends Error {
  override readonly name = 'AtFailure'
  constructor(
    readonly kind: 'open' | 'timeout' | 'aborted' | 'io' | 'final',
    readonly command: string,
    message: string,
    readonly final?: AtFinal,
  ) {
    super(message)
  }
}

const MAX_PENDING = 16 * 1024 // a modem that babbles without line ends is broken
const MAX_LINES = 200
/**
 * Limit for each housekeeping step (input flush at open, the ESC at close, the close itself), or
 * the command timeout when that is shorter: a driver can wedge any of them, and the device queue
 * and `provider.close()` wait for them.
 */
const HOUSEKEEPING_MS = 2000

/**
 * Makes the port object, not yet opened. The default loads `serialport`; tests pass one whose
 * binding misbehaves.
 */
export type PortFactory = (path: string, baudRate: number) => Promise<SerialPort>

/** The real serial port (native `serialport` binding). */
export const nativePort: PortFactory = async (path, baudRate) => {
  const { SerialPort } = await import('serialport')
  return new SerialPort({ path, baudRate, autoOpen: false })
}

interface Waiter {
  /** What reasons name: the command without secrets or numbers. */
  readonly label: string
  /** The command line as written, to recognise its echo (never stored). */
  readonly echo: string | undefined
  /** Resolve on the `> ` prompt instead of OK. */
  readonly prompt: boolean
  readonly lines: string[]
  readonly resolve: (lines: string[]) => void
  readonly reject: (err: AtFailure) => void
}

/** An open AT channel. Create with {@link AtChannel.open}; always `close()` it. */
export class AtChannel {
  #pending = ''
  #waiter: Waiter | undefined
  #dirty = false // a message body may be half-entered: cancel it with ESC before closing
  #closed: Promise<void> | undefined

  private constructor(
    private readonly port: SerialPort,
    private readonly housekeepingMs: number,
  ) {
    port.on('data', (chunk: Buffer) => this.#onData(chunk))
    port.on('error', (err: Error) => this.#fail(new AtFailure('io', this.#waiter?.label ?? 'port', `serial port error: ${err.message}`)))
    port.on('close', () => this.#fail(new AtFailure('io', this.#waiter?.label ?? 'port', 'the serial port was closed (device unplugged?)')))
  }

  /**
   * Opens `path` and drops whatever an earlier session left unread in the input buffer.
   * @param makePort builds the port object (tests inject misbehaving bindings)
   */
  static async open(path: string, baudRate: number, timeoutMs: number, signal: AbortSignal, makePort: PortFactory = nativePort): Promise<AtChannel> {
    const housekeepingMs = Math.min(HOUSEKEEPING_MS, timeoutMs)
    const port = await makePort(path, baudRate)
    const opened = new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
    try {
      await bounded(opened, timeoutMs, signal, 'open')
      const flushed = new Promise<void>((resolve) => port.flush(() => resolve()))
      await bounded(flushed, housekeepingMs, signal, 'open', `the serial port did not flush its input within ${housekeepingMs / 1000} s (driver wedged?)`)
    } catch (err) {
      if (port.isOpen) await release(port, housekeepingMs)
      // An open that completes after we gave up must not keep the port.
      else void opened.then(() => release(port, housekeepingMs), () => discard(port))
      if (err instanceof AtFailure) throw err
      throw new AtFailure('open', 'open', `cannot open serial port ${path}: ${errorText(err)}`)
    }
    return new AtChannel(port, housekeepingMs)
  }

  /**
   * Sends `command` and resolves its information lines when the modem answers OK.
   * @param label what reasons show instead of the command (hides a PIN)
   */
  command(command: string, timeoutMs: number, signal: AbortSignal, label = command): Promise<string[]> {
    return this.#await({ label, echo: command, prompt: false }, `${command}\r`, timeoutMs, signal)
  }

  /**
   * `AT+CMGS…`: waits for the `> ` prompt, writes `body` and Ctrl-Z, then waits up to
   * `sendTimeoutMs` for the final result (the network round trip happens here). Reasons name
   * only `AT+CMGS`: in text mode the command holds the phone number.
   */
  async submit(command: string, body: string, timeoutMs: number, sendTimeoutMs: number, signal: AbortSignal): Promise<string[]> {
    const label = 'AT+CMGS'
    this.#dirty = true
    await this.#await({ label, echo: command, prompt: true }, `${command}\r`, timeoutMs, signal)
    const lines = await this.#await({ label, echo: undefined, prompt: false }, `${body}\x1a`, sendTimeoutMs, signal)
    this.#dirty = false
    return lines
  }

  /**
   * Cancels a half-entered message (ESC), then closes the port. Every step is bounded, so the
   * device queue and `provider.close()` never wait on a wedged driver for long. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#fail(new AtFailure('aborted', this.#waiter?.label ?? 'port', 'channel closed'))
      const port = this.port
      if (this.#dirty && port.isOpen) {
        const escaped = await within(new Promise<void>((resolve) => port.write('\x1b', () => resolve())), this.housekeepingMs)
        // The ESC (and whatever is queued before it) is stuck: discard the unsent output, else
        // the OS close waits for it to drain (a serial driver waits up to 30 s).
        if (!escaped && port.isOpen) await within(new Promise<void>((resolve) => port.flush(() => resolve())), this.housekeepingMs)
      }
      await release(port, this.housekeepingMs)
    })()
    return this.#closed
  }

  #await(how: Pick<Waiter, 'label' | 'echo' | 'prompt'>, data: string, timeoutMs: number, signal: AbortSignal): Promise<string[]> {
    if (this.#closed !== undefined) return Promise.reject(new AtFailure('io', how.label, 'channel closed'))
    let waiter: Waiter | undefined
    const result = new Promise<string[]>((resolve, reject) => {
      waiter = { ...how, lines: [], resolve, reject }
    })
    this.#waiter = waiter
    this.port.write(Buffer.from(data, 'latin1'), (err) => {
      if (err) this.#fail(new AtFailure('io', how.label, `write failed: ${err.message}`))
    })
    return bounded(result, timeoutMs, signal, how.label).finally(() => {
      if (this.#waiter === waiter) this.#waiter = undefined
    })
  }

  #onData(chunk: Buffer): void {
    this.#pending += chunk.toString('latin1')
    const parts = this.#pending.split(/\r\n|\r|\n/)
    this.#pending = parts.pop() ?? ''
    for (const raw of parts) this.#line(raw.trim())
    const waiter = this.#waiter
    if (waiter?.prompt && this.#pending.trimStart().startsWith('>')) {
      this.#pending = ''
      this.#done(waiter)
    } else if (this.#pending.length > MAX_PENDING) {
      this.#pending = ''
      this.#fail(new AtFailure('io', waiter?.label ?? 'port', 'the modem sent too much data without a line end'))
    }
  }

  #line(line: string): void {
    const waiter = this.#waiter
    if (line === '' || waiter === undefined) return // unsolicited result codes between commands are dropped
    if (waiter.echo !== undefined && line.toUpperCase() === waiter.echo.toUpperCase()) return // echo (before ATE0)
    if ((waiter.prompt && line.startsWith('>')) || line === 'OK') return this.#done(waiter)
    const final = parseFinal(line)
    if (final !== undefined) {
      return this.#fail(new AtFailure('final', waiter.label, `modem answered ${describeAtFinal(final)} to ${waiter.label}`, final))
    }
    if (waiter.lines.length >= MAX_LINES) return this.#fail(new AtFailure('io', waiter.label, 'the modem sent too many lines'))
    waiter.lines.push(line)
  }

  /** Resolves the current exchange; lines after its final result belong to no command. */
  #done(waiter: Waiter): void {
    this.#waiter = undefined
    waiter.resolve(waiter.lines)
  }

  #fail(err: AtFailure): void {
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.reject(err)
  }
}

/**
 * Closes `port` within `ms`, then gives the port object up for good: its pending writes and
 * reads are dropped and nothing it emits later reaches a channel. When the close does not finish
 * in time the binding has already let go of the descriptor (and its lock) and the OS is still
 * releasing the device; a later open may then fail or time out, but it is never refused because
 * this process still holds the port.
 */
async function release(port: SerialPort, ms: number): Promise<void> {
  if (port.isOpen) await within(new Promise<void>((resolve) => port.close(() => resolve())), ms)
  discard(port)
}

/** Destroys the stream and detaches every listener (a late 'error' must not crash the process). */
function discard(port: SerialPort): void {
  port.removeAllListeners()
  port.on('error', () => undefined)
  if (!port.destroyed) port.destroy()
}

/** Resolves true when `p` settles within `ms`, false otherwise. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    p.then(
      () => {
        clearTimeout(timer)
        resolve(true)
      },
      () => {
        clearTimeout(timer)
        resolve(true)
      },
    )
  })
}

/** Final result codes other than OK. */
function parseFinal(line: string): AtFinal | undefined {
  const m = /^\+(CMS|CME) ERROR:\s*(.*)$/i.exec(line)
  if (m) {
    const value = (m[2] as string).trim()
    return /^\d+$/.test(value)
      ? { type: (m[1] as string).toUpperCase() as 'CMS' | 'CME', code: Number(value) }
      : { type: (m[1] as string).toUpperCase() as 'CMS' | 'CME', text: value.replace(/[^\x20-\x7e]/g, '').slice(0, 60) }
  }
  if (line === 'ERROR' || line === 'NO CARRIER' || line === 'COMMAND NOT SUPPORT' || line === 'TOO MANY PARAMETERS') {
    return { type: 'ERROR', text: line }
  }
  return undefined
}

/** Races `p` against a timeout and the signal; the loser's rejection never goes unhandled. */
function bounded<T>(p: Promise<T>, timeoutMs: number, signal: AbortSignal, label: string, timeoutMessage = `the modem did not answer ${label} within ${timeoutMs / 1000} s`): Promise<T> {
  p.catch(() => undefined)
  if (signal.aborted) return Promise.reject(new AtFailure('aborted', label, `aborted before ${label}`))
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(new AtFailure('timeout', label, timeoutMessage))), timeoutMs)
    const onAbort = () => finish(() => reject(new AtFailure('aborted', label, `aborted while waiting for ${label}`)))
    signal.addEventListener('abort', onAbort, { once: true })
    const finish = (settle: () => void) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      settle()
    }
    p.then((v) => finish(() => resolve(v)), (e: unknown) => finish(() => reject(e)))
  })
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.replace(/[^\x20-\x7e]/g, '').slice(0, 120)
}
