/**
 * `npm run bench:smpp`: submit_sm/s of the SMPPSMSProvider through one bind, against a loopback
 * SMSC in its own process (bench/smsc-process.ts, the SMSC of the tests) that answers each
 * `submit_sm` after 2 ms. The provider is built the way the product builds it (a provider record
 * with LinOTP's config keys → the default registry → `loadProvider`, sends through `sendVia`).
 *
 * Cases: window 1, window 10 and the product default (the config without `window`), each sending
 * `BENCH_SMPP_MESSAGES` (5,000) messages from `BENCH_SMPP_CONCURRENCY` (200) concurrent senders,
 * each to a distinct E.164 number; and the LinOTP / privacyIDEA way as the baseline: a new
 * provider (connect, bind, submit, unbind) per message, one after the other, for
 * `BENCH_SMPP_BASELINE_MESSAGES` (200). Printed per case: submit_sm/s, p50/p99 per-send latency,
 * binds the SMSC saw, the ratio to the baseline of the same run, failures, and where the CPU went
 * (event-loop utilisation of this process and of the SMSC process). Written as JSON to
 * bench/results/ (`BENCH_LABEL` adds a name). Exits 1 when a send failed or the SMSC's records
 * disagree with what was sent. Timing is never asserted in tests.
 */
import { spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { silentLogger } from '../src/logger.js'
import { withDeadline } from '../src/providers/deadline.js'
import { loadProvider, sendVia, type LoadedProvider } from '../src/providers/loader.js'
import { SmppSmsProviderClass } from '../src/providers/smpp/index.js'
import { defaultRegistry } from '../src/sms-otp.js'
import { SMSC_PASSWORD, SMSC_SYSTEM_ID } from '../test/helpers/smsc.js'
import type { SmscStats } from './smsc-process.js'

const here = dirname(fileURLToPath(import.meta.url))
const MESSAGES = Number(process.env.BENCH_SMPP_MESSAGES ?? 5000)
const CONCURRENCY = Number(process.env.BENCH_SMPP_CONCURRENCY ?? 200)
const BASELINE_MESSAGES = Number(process.env.BENCH_SMPP_BASELINE_MESSAGES ?? 200)
const DELAY_MS = Number(process.env.BENCH_SMSC_DELAY_MS ?? 2)
const WARMUP_MESSAGES = 1000
const GOAL = 1000
/** The dispatcher's default deadline of one send (Failover `attemptMs`). */
const ATTEMPT_MS = 60_000

// The SMSC is a peer: its own process, as in production.
const smscProcess = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(here, 'smsc-process.ts')], {
  stdio: ['pipe', 'pipe', 'inherit'],
  env: { ...process.env, BENCH_SMSC_DELAY_MS: String(DELAY_MS) },
})
const replies = createInterface({ input: smscProcess.stdout })
const waiting: Array<{ ok: (line: string) => void; fail: (err: Error) => void }> = []
replies.on('line', (line) => waiting.shift()?.ok(line))
smscProcess.once('exit', (code) => {
  for (const w of waiting.splice(0)) w.fail(new Error(`SMSC process exited with ${code}`))
})
const nextLine = (): Promise<string> => new Promise((ok, fail) => waiting.push({ ok, fail }))
/** Sends one command to the SMSC process and returns its JSON answer. */
async function smsc<T>(cmd: 'reset' | 'stats'): Promise<T> {
  const reply = nextLine()
  smscProcess.stdin.write(`${JSON.stringify({ cmd })}\n`)
  return JSON.parse(await reply) as T
}

const registry = defaultRegistry()
const { port } = JSON.parse(await nextLine()) as { port: number }

/** LinOTP's SMPPSMSProvider keys; `window` only when given (else the product default applies). */
const config = (window?: number): Record<string, unknown> => ({
  server: '127.0.0.1',
  port,
  system_id: SMSC_SYSTEM_ID,
  password: SMSC_PASSWORD,
  source_addr: 'ACME',
  source_addr_ton: 5,
  source_addr_npi: 0,
  dest_addr_ton: 1,
  dest_addr_npi: 1,
  ...(window !== undefined && { window }),
})
const DEFAULT_WINDOW = SmppSmsProviderClass.parse(config(), () => undefined).window

const load = (window?: number): LoadedProvider =>
  loadProvider({ name: 'smsc', className: 'SMPPSMSProvider', config: JSON.stringify(config(window)), timeout: 120 }, registry, silentLogger)

/** A distinct, valid German mobile number per index (never printed). */
const phone = (i: number): string => `+4915${String(100_000_000 + i)}`
const otpText = (): string => `Your OTP is ${String(randomInt(1_000_000)).padStart(6, '0')}`

interface Row {
  case: string
  window: number | null
  messages: number
  concurrency: number
  submitPerSec: number
  p50: number
  p99: number
  /** Accepted binds the SMSC saw. */
  binds: number
  ratio: number
  failures: number
  /** Failure reasons (SMPP status names, never numbers or texts) → count. */
  reasons: Record<string, number>
  /** Most submit_sm outstanding at once on one connection, as the SMSC saw it. */
  smscMaxOutstanding: number
  /** Event-loop utilisation (0..1) and CPU ms of the provider's process and of the SMSC's. */
  benchElu: number
  benchCpuMs: number
  smscElu: number
  smscCpuMs: number
}

const percentile = (sorted: number[], q: number): number =>
  Math.round((sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0) * 100) / 100

const problems: string[] = []

/** Runs `body` between an SMSC reset and its stats; checks the SMSC's records against `sent`. */
async function measured(
  name: string,
  messages: number,
  body: (record: (ms: number, ok: boolean, reason?: string) => void) => Promise<void>,
  setup?: () => Promise<void>,
) {
  await smsc<{ ok: boolean }>('reset')
  await setup?.() // after the reset (the SMSC counts its bind), before the clock
  const latencies: number[] = []
  const reasons: Record<string, number> = {}
  let failures = 0
  const cpu = process.cpuUsage()
  const elu = performance.eventLoopUtilization()
  const started = performance.now()
  await body((ms, ok, reason) => {
    latencies.push(ms)
    if (!ok) {
      failures++
      const key = reason ?? 'unknown'
      reasons[key] = (reasons[key] ?? 0) + 1
    }
  })
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  const benchElu = performance.eventLoopUtilization(elu).utilization
  const stats = await smsc<SmscStats>('stats')
  latencies.sort((a, b) => a - b)
  const sent = messages - failures
  if (stats.submits !== sent) problems.push(`${name}: the SMSC recorded ${stats.submits} submit_sm, ${sent} were sent`)
  if (stats.distinctDestinations !== stats.submits) problems.push(`${name}: ${stats.distinctDestinations} distinct destinations for ${stats.submits} submit_sm`)
  if (stats.plusDestinations > 0) problems.push(`${name}: ${stats.plusDestinations} destinations kept the '+'`)
  if (stats.refusedBinds > 0) problems.push(`${name}: ${stats.refusedBinds} binds refused`)
  if (failures > 0) problems.push(`${name}: ${failures} sends failed: ${JSON.stringify(reasons)}`)
  return {
    messages,
    submitPerSec: Math.round(sent / seconds),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    binds: stats.binds,
    failures,
    reasons,
    smscMaxOutstanding: stats.maxOutstanding,
    benchElu: Math.round(benchElu * 1000) / 1000,
    benchCpuMs: Math.round((used.user + used.system) / 1000),
    smscElu: stats.elu,
    smscCpuMs: stats.cpuMs,
  }
}

/** One send the way the dispatcher makes it (src/providers/failover.ts): `sendVia` under a per-send deadline. */
async function sendOne(provider: LoadedProvider, i: number): Promise<{ ok: boolean; reason?: string }> {
  const msg = { phone: phone(i), text: otpText(), transactionId: `t${i}` }
  try {
    const r = await withDeadline(ATTEMPT_MS, (attempt) => sendVia(provider, msg, attempt), 'the send')
    return r.status === 'sent' ? { ok: true } : { ok: false, reason: `${r.status}: ${r.reason}` }
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : 'error' }
  }
}

/** One provider (one bind, opened before the clock starts), `CONCURRENCY` senders sharing it. */
async function windowed(name: string, window: number | undefined, messages: number, firstIndex: number) {
  const provider = load(window)
  try {
    const bind = async () => {
      const bound = await provider.instance.test?.(new AbortController().signal)
      if (bound?.status !== 'sent') throw new Error(`${name}: bind failed: ${bound?.reason ?? 'no test()'}`)
    }
    return await measured(name, messages, async (record) => {
      let next = 0
      const sender = async () => {
        while (next < messages) {
          const i = firstIndex + next++
          const t0 = performance.now()
          const r = await sendOne(provider, i)
          record(performance.now() - t0, r.ok, r.reason)
        }
      }
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, messages) }, sender))
    }, bind)
  } finally {
    await provider.instance.close?.()
  }
}

/** LinOTP / privacyIDEA: connect, bind, submit, unbind for every message, one after the other. */
async function bindPerMessage(name: string, messages: number, firstIndex: number) {
  return measured(name, messages, async (record) => {
    for (let n = 0; n < messages; n++) {
      const t0 = performance.now()
      const provider = load()
      const r = await sendOne(provider, firstIndex + n)
      await provider.instance.close?.()
      record(performance.now() - t0, r.ok, r.reason)
    }
  })
}

let exitCode = 0
try {
  // JIT warm-up on a provider of its own; not reported.
  await windowed('warm-up', undefined, WARMUP_MESSAGES, 0)
  problems.length = 0

  const baseline = await bindPerMessage('bind per message', BASELINE_MESSAGES, 0)
  const rows: Row[] = [{ case: 'bind per message (LinOTP/privacyIDEA)', window: null, concurrency: 1, ...baseline, ratio: 1 }]
  const windows: Array<[string, number | undefined]> = [
    ['one bind, window 1', 1],
    ['one bind, window 10', 10],
    [`one bind, default window (${DEFAULT_WINDOW})`, undefined],
  ]
  let index = BASELINE_MESSAGES
  for (const [name, window] of windows) {
    const r = await windowed(name, window, MESSAGES, index)
    index += MESSAGES
    rows.push({ case: name, window: window ?? DEFAULT_WINDOW, concurrency: Math.min(CONCURRENCY, MESSAGES), ...r, ratio: Math.round((r.submitPerSec / baseline.submitPerSec) * 100) / 100 })
  }

  console.log(`\nSMSC in its own process answering each submit_sm after ${DELAY_MS} ms; ${MESSAGES} messages per one-bind case from ${CONCURRENCY} concurrent senders, ${BASELINE_MESSAGES} one after the other for bind per message\n`)
  const head = ['case', 'submit/s', 'p50 ms', 'p99 ms', 'binds', 'ratio', 'failed', 'maxOut', 'ELU prov', 'ELU smsc']
  console.log(`${head[0]!.padEnd(40)}${head.slice(1).map((h) => h.padStart(9)).join('')}`)
  for (const r of rows) {
    const cells = [r.submitPerSec, r.p50, r.p99, r.binds, r.ratio.toFixed(2), r.failures, r.smscMaxOutstanding, r.benchElu.toFixed(2), r.smscElu.toFixed(2)]
    console.log(`${r.case.padEnd(40)}${cells.map((c) => String(c).padStart(9)).join('')}`)
  }
  const byDefault = rows.at(-1)!
  console.log(`\ngoal ≥ ${GOAL} submit_sm/s with the default window: ${byDefault.submitPerSec >= GOAL ? 'reached' : 'NOT reached'} (${byDefault.submitPerSec}/s)`)

  const results = join(here, 'results')
  await mkdir(results, { recursive: true })
  // BENCH_LABEL names the run (e.g. a branch or a change) in the file name.
  const label = (process.env.BENCH_LABEL ?? '').replace(/[^A-Za-z0-9_-]/g, '')
  const file = join(results, `smpp-${new Date().toISOString().replace(/[:.]/g, '-')}${label ? `-${label}` : ''}.json`)
  const summary = { date: new Date().toISOString(), node: process.version, smscDelayMs: DELAY_MS, messages: MESSAGES, concurrency: CONCURRENCY, baselineMessages: BASELINE_MESSAGES, defaultWindow: DEFAULT_WINDOW, goal: GOAL, problems, rows }
  await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`)
  console.log(`written to ${file}`)
} catch (err) {
  problems.push(err instanceof Error ? err.message : String(err))
} finally {
  smscProcess.stdin.end()
}
if (problems.length > 0) {
  console.error(`\nFAILED:\n${problems.map((p) => `  ${p}`).join('\n')}`)
  exitCode = 1
}
process.exitCode = exitCode
