/**
 * The SMSC of `npm run bench:smpp`, in its own process: the loopback SMSC of the tests
 * (test/helpers/smsc.ts) answering each `submit_sm` after `BENCH_SMSC_DELAY_MS` (default 2 ms).
 * Prints one JSON line `{ port }` once it listens, then answers one JSON line per command read
 * from stdin:
 * - `{"cmd":"reset"}` clears the records and the CPU counters → `{ ok: true }`;
 * - `{"cmd":"stats"}` → {@link SmscStats} since the last reset.
 * It exits when stdin closes. Phone numbers and texts never leave this process.
 */
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import { startSmsc } from '../test/helpers/smsc.js'

/** What the SMSC saw since the last reset. */
export interface SmscStats {
  /** submit_sm PDUs received. */
  readonly submits: number
  /** Distinct destination_addr values among them. */
  readonly distinctDestinations: number
  /** destination_addr values that still carry a `+` (the provider must drop it for TON 1). */
  readonly plusDestinations: number
  /** Accepted binds. */
  readonly binds: number
  /** Refused binds. */
  readonly refusedBinds: number
  readonly unbinds: number
  /** Most submit_sm outstanding at once on one connection. */
  readonly maxOutstanding: number
  /** CPU time of this process (user + system), ms. */
  readonly cpuMs: number
  /** Event-loop utilisation of this process, 0..1. */
  readonly elu: number
}

const delay = Number(process.env.BENCH_SMSC_DELAY_MS ?? 2)
const smsc = await startSmsc({ responseDelayMs: delay })
let cpu = process.cpuUsage()
let elu = performance.eventLoopUtilization()

function stats(): SmscStats {
  const used = process.cpuUsage(cpu)
  const destinations = new Set(smsc.submits.map((s) => s.destAddr))
  return {
    submits: smsc.submits.length,
    distinctDestinations: destinations.size,
    plusDestinations: [...destinations].filter((d) => d.startsWith('+')).length,
    binds: smsc.binds.filter((b) => b.accepted).length,
    refusedBinds: smsc.binds.filter((b) => !b.accepted).length,
    unbinds: smsc.unbinds,
    maxOutstanding: smsc.maxOutstanding,
    cpuMs: Math.round((used.user + used.system) / 1000),
    elu: Math.round(performance.eventLoopUtilization(elu).utilization * 1000) / 1000,
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const { cmd } = JSON.parse(line) as { cmd?: string }
  if (cmd === 'reset') {
    smsc.reset({ responseDelayMs: delay })
    cpu = process.cpuUsage()
    elu = performance.eventLoopUtilization()
    process.stdout.write(`${JSON.stringify({ ok: true })}\n`)
  } else if (cmd === 'stats') {
    process.stdout.write(`${JSON.stringify(stats())}\n`)
  } else {
    process.stdout.write(`${JSON.stringify({ error: 'unknown command' })}\n`)
  }
})
lines.on('close', () => {
  void smsc.close().then(() => process.exit(0))
})
process.stdout.write(`${JSON.stringify({ port: smsc.port })}\n`)
