/**
 * `npm run bench`: the sidecar against a bare Express route, the way load arrives in production.
 * The target (bench/target.ts) runs in its own process; autocannon generates the load from this
 * one. 1,000 users, picked at random per request. Cases: reject (PIN + wrong OTP), trigger (PIN →
 * SMS through an HTTP provider to a sink in this process), answer (transaction id + wrong OTP of an open challenge, i.e. the
 * challenge lookup and compare), unknown user; each printed with req/s, p50/p99 latency and the
 * ratio to the baseline, and written as JSON to bench/results/. Timing is never asserted.
 */
import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const here = dirname(fileURLToPath(import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10)
const USERS = 1000

// The SMS gateway: a loopback sink that answers at once, in this process (not the measured one).
const sink = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.end('OK'))
})
const sinkUrl = await new Promise<string>((ok) => sink.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(sink.address() as AddressInfo).port}`)))
// BENCH_PROFILE=DIR writes a CPU profile of the target (the measured process) into DIR.
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []
const target = spawn(process.execPath, [...profile, '--import', import.meta.resolve('tsx'), join(here, 'target.ts')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, LOG_LEVEL: 'warn', BENCH_SINK_URL: sinkUrl },
})
const urls = await new Promise<{ sidecar: string; bare: string }>((ok, fail) => {
  let out = ''
  target.stdout.on('data', (c: Buffer) => {
    out += c.toString()
    const line = out.split('\n').find((l) => l.startsWith('{'))
    if (line) ok(JSON.parse(line) as { sidecar: string; bare: string })
  })
  target.once('exit', (code) => fail(new Error(`bench target exited with ${code}`)))
})

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString()
const randomUser = (): string => `u${Math.floor(Math.random() * USERS)}`

interface Row { case: string; reqPerSec: number; p50: number; p99: number; ratio: number; errors: number }

async function run(url: string, body: () => string): Promise<Omit<Row, 'case' | 'ratio'>> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }],
  })
  return { reqPerSec: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx }
}

// Open challenges for the answer case: one SMS per user before that case runs.
async function openChallenges(): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < USERS; i++) {
    const res = await fetch(`${urls.sidecar}/validate/check`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ user: `u${i}`, pass: '1234' }) })
    const id = ((await res.json()) as { detail?: { transactionid?: string } }).detail?.transactionid
    if (id) ids.push(`${i}:${id}`)
  }
  return ids
}

try {
  const rows: Row[] = []
  const baseline = await run(`${urls.bare}/bare`, () => form({ user: randomUser(), pass: '1234000000' }))
  rows.push({ case: 'bare Express route (baseline)', ...baseline, ratio: 1 })
  const cases: Array<[string, () => string]> = [
    ['reject: PIN + wrong OTP', () => form({ user: randomUser(), pass: '1234000000' })],
    ['trigger: PIN → SMS sent (HTTP provider)', () => form({ user: randomUser(), pass: '1234' })],
    ['unknown user', () => form({ user: `nobody${Math.floor(Math.random() * USERS)}`, pass: '1234000000' })],
  ]
  // BENCH_CASES=trigger,answer runs only the cases whose name contains one of the words.
  const wanted = (name: string): boolean => !process.env.BENCH_CASES || process.env.BENCH_CASES.split(',').some((w) => w !== '' && name.includes(w))
  for (const [name, body] of cases.filter(([name]) => wanted(name))) {
    const r = await run(`${urls.sidecar}/validate/check`, body)
    rows.push({ case: name, ...r, ratio: Math.round((r.reqPerSec / baseline.reqPerSec) * 100) / 100 })
  }
  if (wanted('answer: transaction id + wrong OTP')) {
    const open = await openChallenges()
    const answer = await run(`${urls.sidecar}/validate/check`, () => {
      const [user, id] = (open[Math.floor(Math.random() * open.length)] ?? '0:0').split(':') as [string, string]
      return form({ user: `u${user}`, transactionid: id, pass: '000000' })
    })
    rows.push({ case: 'answer: transaction id + wrong OTP', ...answer, ratio: Math.round((answer.reqPerSec / baseline.reqPerSec) * 100) / 100 })
  }

  console.log(`\n${CONNECTIONS} connections, ${SECONDS} s each, autocannon in its own process, ${USERS} users at random, ${process.env.BENCH_STORE === 'memory' ? 'memory store' : 'SQLite (synchronous=FULL)'}\n`)
  console.log(`${'case'.padEnd(44)}${'req/s'.padStart(8)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'ratio'.padStart(8)}${'errors'.padStart(8)}`)
  for (const r of rows) console.log(`${r.case.padEnd(44)}${String(r.reqPerSec).padStart(8)}${String(r.p50).padStart(8)}${String(r.p99).padStart(8)}${r.ratio.toFixed(2).padStart(8)}${String(r.errors).padStart(8)}`)
  const results = join(here, 'results')
  await mkdir(results, { recursive: true })
  // BENCH_LABEL names the run (e.g. a branch or a change) in the file name.
  const label = (process.env.BENCH_LABEL ?? '').replace(/[^A-Za-z0-9_-]/g, '')
  const file = join(results, `http-${new Date().toISOString().replace(/[:.]/g, '-')}${label ? `-${label}` : ''}.json`)
  await writeFile(file, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, connections: CONNECTIONS, seconds: SECONDS, users: USERS, store: process.env.BENCH_STORE === 'memory' ? 'memory' : 'sqlite', rows }, null, 2)}\n`)
  console.log(`\nwritten to ${file}`)
} finally {
  target.kill('SIGTERM')
  sink.close()
}
