/**
 * DeviceSMSProvider gnokii mode (LinOTP's way, spec §3.6): `gnokii --config <CONFIGFILE>
 * --sendsms <phone> [--smsc <SMSC>]` with the text as UTF-8 on standard input.
 *
 * The program is started with an argument vector (no shell), in its own process group so a
 * timeout can kill it with anything it started, with a small environment whose locale is
 * C.UTF-8: under the C locale gnokii 0.6.30 drops every non-ASCII character and sends an empty
 * SMS. Its output may echo the number, so it is never logged; only gnokii's own error phrase
 * (digits removed) reaches reasons and logs.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Logger } from '../../logger.js'
import { maskPhone } from '../../phone/index.js'
import { BAD_DESTINATION, deviceDestination, exclusive } from './common.js'
import type { SendResult, SmsMessage, SmsProvider } from '../types.js'

/** Options of gnokii mode (see the key table in docs/providers.md). */
export interface GnokiiOptions {
  readonly mode: 'gnokii'
  /** Absolute path of the gnokiirc file (checked to exist at load). */
  readonly configFile: string
  /** Service centre number passed as `--smsc`. */
  readonly smsc: string | undefined
  /** The gnokii program: a path, or a name looked up on PATH. @default 'gnokii' */
  readonly binary: string
  /** Kill gnokii (and its process group) after this long. @default 60000 */
  readonly timeoutMs: number
  /**
   * Admin-defined providers: the checked gnokiirc settings (see `gnokiirc.ts`). gnokii then reads
   * a private copy of exactly these (a mkdtemp directory, mode 0700, file 0600, written at the
   * first run and removed on close), never `configFile`, so a later rewrite of that file changes
   * nothing. Undefined: gnokii reads `configFile` itself (the operator's own definitions).
   */
  readonly snapshot?: string
}

type Outcome =
  | { readonly kind: 'exit'; readonly code: number; readonly output: string }
  | { readonly kind: 'signal'; readonly signal: string }
  | { readonly kind: 'spawn'; readonly code: string }
  | { readonly kind: 'timeout' | 'aborted' }

const MAX_OUTPUT = 16 * 1024
const KILL_GRACE_MS = 1000
/** gn_error values that mean "could not talk to the phone": NOLINK, TIMEOUT, TRYAGAIN, NOTREADY, BUSY. */
const UNREACHABLE_CODES = new Set([10, 11, 12, 14, 15])
/** gnokii's own failure phrases; the first one found becomes the reason's detail. */
const PHRASES = [/SMS Send failed.*/, /Telephone interface init failed.*/, /Lock file error.*/, /Config file cannot be read.*/, /Send failed.*/]
const DEVICE_PHRASE = /^(Telephone interface init failed|Lock file error)/

/** Builds the gnokii-mode provider. No process is started until the first send. */
export function createGnokiiProvider(options: GnokiiOptions, log: Logger): SmsProvider {
  const closer = new AbortController()
  const active = new Set<Promise<SendResult>>()
  const key = `gnokii:${options.configFile}`

  let snapshot: Promise<string> | undefined

  /** The file gnokii is given: the snapshot (written once, on first use) or `configFile`. */
  async function configPath(): Promise<string> {
    if (options.snapshot === undefined) return options.configFile
    snapshot ??= writeSnapshot(options.snapshot)
    try {
      return await snapshot
    } catch (err) {
      snapshot = undefined // try again at the next send
      throw err
    }
  }

  function run(args: (config: string) => string[], input: string | undefined, signal: AbortSignal): Promise<SendResult> {
    if (closer.signal.aborted) return Promise.resolve({ status: 'unavailable', reason: 'provider is closed' })
    const both = AbortSignal.any([signal, closer.signal])
    const running = exclusive(key, both, async () => {
      let config: string
      try {
        config = await configPath()
      } catch (err) {
        return { status: 'unavailable', reason: `the gnokii configuration could not be written (${(err as NodeJS.ErrnoException).code ?? 'error'})` } as const
      }
      return classify(await runGnokii(options.binary, args(config), input, options.timeoutMs, both), options)
    }).then((r) => r ?? { status: 'unavailable', reason: 'aborted while waiting for gnokii (another message was being sent)' } as const)
    active.add(running)
    void running.finally(() => active.delete(running))
    return running
  }

  return {
    async send(msg: SmsMessage, signal: AbortSignal): Promise<SendResult> {
      const phone = deviceDestination(msg.phone)
      if (phone === undefined) return BAD_DESTINATION
      const args = (config: string) => ['--config', config, '--sendsms', phone, ...(options.smsc === undefined ? [] : ['--smsc', options.smsc])]
      const started = Date.now()
      const result = await run(args, msg.text, signal)
      log.debug({ phone: maskPhone(phone), ms: Date.now() - started, result: result.status, ...(result.status !== 'sent' && { reason: result.reason }), transactionId: msg.transactionId }, 'gnokii finished')
      return result
    },
    test(signal: AbortSignal): Promise<SendResult> {
      return run((config) => ['--config', config, '--identify'], undefined, signal)
    },
    /** Kills a running gnokii, resolves once it has exited, and removes the snapshot. Idempotent. */
    async close(): Promise<void> {
      closer.abort()
      await Promise.allSettled([...active])
      const written = await snapshot?.catch(() => undefined)
      snapshot = undefined
      if (written !== undefined) await rm(dirname(written), { recursive: true, force: true })
    },
  }
}

/** Writes the checked settings into a new private directory; resolves with the file's path. */
async function writeSnapshot(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-gnokii-')) // mode 0700
  const file = join(dir, 'gnokiirc')
  try {
    await writeFile(file, text, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  return file
}

/** Turns how gnokii ended into a result. */
function classify(outcome: Outcome, options: GnokiiOptions): SendResult {
  switch (outcome.kind) {
    case 'spawn':
      return { status: 'unavailable', reason: `gnokii could not be started (${options.binary}: ${outcome.code})` }
    case 'timeout':
      return { status: 'unavailable', reason: `gnokii did not finish within ${options.timeoutMs / 1000} s and was killed` }
    case 'aborted':
      return { status: 'unavailable', reason: 'aborted; gnokii was killed' }
    case 'signal':
      return { status: 'unavailable', reason: `gnokii was killed by ${outcome.signal}` }
    case 'exit': {
      if (outcome.code === 0) {
        const refs = /reference(?: numbers)?:?\s*([0-9][0-9 ]*)/.exec(outcome.output)?.[1]?.trim().split(/\s+/)
        return refs === undefined ? { status: 'sent' } : { status: 'sent', gatewayId: refs.join(',') }
      }
      const phrase = gnokiiPhrase(outcome.output)
      const reason = `gnokii exited with code ${outcome.code}${phrase === '' ? '' : ` (${phrase})`}`
      const unreachable = UNREACHABLE_CODES.has(outcome.code) || DEVICE_PHRASE.test(phrase)
      return { status: unreachable ? 'unavailable' : 'rejected', reason }
    }
  }
}

/** gnokii's failure phrase from its output, digits and control characters removed, bounded. */
export function gnokiiPhrase(output: string): string {
  for (const pattern of PHRASES) {
    const found = pattern.exec(output)?.[0]
    if (found !== undefined) return found.replace(/[0-9]/g, '').replace(/[^\x20-\x7e]/g, '').replace(/\s+/g, ' ').trim().slice(0, 100)
  }
  return ''
}

/** Runs gnokii once; never rejects. Output is collected (bounded) for {@link classify} only. */
function runGnokii(binary: string, args: string[], input: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>
    try {
      child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: gnokiiEnv(), windowsHide: true })
    } catch (err) {
      resolve({ kind: 'spawn', code: (err as NodeJS.ErrnoException).code ?? 'error' })
      return
    }
    let output = ''
    let stopped: 'timeout' | 'aborted' | undefined
    let settled = false
    const timers: NodeJS.Timeout[] = []
    const finish = (outcome: Outcome) => {
      if (settled) return
      settled = true
      timers.forEach(clearTimeout)
      signal.removeEventListener('abort', onAbort)
      resolve(outcome)
    }
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig) // detached: gnokii leads its own group
      } catch {
        // already gone
      }
    }
    const stop = (why: 'timeout' | 'aborted') => {
      if (stopped !== undefined || settled) return
      stopped = why
      killGroup('SIGTERM') // lets gnokii remove its lock file
      timers.push(setTimeout(() => {
        killGroup('SIGKILL')
        timers.push(setTimeout(() => finish({ kind: why }), 2 * KILL_GRACE_MS)) // stuck in the kernel: give up waiting
      }, KILL_GRACE_MS))
    }
    const onAbort = () => stop('aborted')
    const collect = (chunk: Buffer) => {
      if (output.length < MAX_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_OUTPUT - output.length)
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (stopped === undefined) finish({ kind: 'spawn', code: err.code ?? 'error' })
    })
    child.on('close', (code, sig) => {
      if (stopped !== undefined) finish({ kind: stopped })
      else if (code !== null) finish({ kind: 'exit', code, output })
      else finish({ kind: 'signal', signal: sig ?? 'a signal' })
    })
    timers.push(setTimeout(() => stop('timeout'), timeoutMs))
    if (signal.aborted) stop('aborted')
    else signal.addEventListener('abort', onAbort, { once: true })
    child.stdin?.on('error', () => undefined) // EPIPE when gnokii exits without reading
    child.stdin?.end(input === undefined ? undefined : Buffer.from(input, 'utf8'))
  })
}

/**
 * A small environment: no secrets of this process leak into gnokii, and a UTF-8 locale so gnokii
 * reads the text on stdin as UTF-8.
 */
function gnokiiEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' }
  for (const name of ['HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'TMPDIR']) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return env
}
