/**
 * `npm run bench`: requests per second of the validate endpoints against a bare Express route that
 * parses the same form body, measured side by side in one run on loopback, reported as ratios.
 * The sidecar runs on its default store (SQLite, in a temp directory). Timing is never asserted.
 */
import express from 'express'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { serve } from '../src/sidecar/serve.js'
import { silentLogger } from '../src/logger.js'

const DURATION_MS = Number(process.env.BENCH_MS ?? 3000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16)
const TOKEN = 'bench-admin-token-0123456789'

async function load(origin: string, path: string, body: string, durationMs = DURATION_MS): Promise<number> {
  const pool = new Pool(origin, { connections: CONNECTIONS, pipelining: 1 })
  let done = 0
  let failed = 0
  const until = Date.now() + durationMs
  const worker = async (): Promise<void> => {
    while (Date.now() < until) {
      const res = await pool.request({ method: 'POST', path, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      await res.body.text()
      if (res.statusCode === 200) done++
      else failed++
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, worker))
  await pool.close()
  if (failed > 0) throw new Error(`${path}: ${failed} requests failed`)
  return done / (durationMs / 1000)
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-bench-'))
  const bare = express()
  bare.use(express.urlencoded({ extended: false }))
  bare.post('/bare', (req, res) => {
    res.json({ jsonrpc: '2.0802', result: { status: true, value: (req.body as Record<string, string>).pass === 'x' }, id: 0 })
  })
  const bareServer = bare.listen(0, '127.0.0.1')
  await new Promise((ok) => bareServer.once('listening', ok))
  const bareOrigin = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`

  const sidecar = await serve({ port: 0, dataDir: dir, demo: true, logger: silentLogger, env: { SMS_OTP_ADMIN_TOKEN: TOKEN } })
  const admin = (path: string, params: Record<string, string>) =>
    fetch(`${sidecar.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: new URLSearchParams(params) }).then((r) => r.json())
  await admin('/admin/set', { serial: 'LSSMDEMO0001', MaxFailCount: '1000000000' })
  process.stdout.write = ((write) => (chunk: string | Uint8Array, ...rest: never[]) =>
    String(chunk).startsWith('[sms-otp outbox]') ? true : write(chunk, ...rest))(process.stdout.write.bind(process.stdout)) as typeof process.stdout.write
  await fetch(`${sidecar.url}/validate/check`, { method: 'POST', body: new URLSearchParams({ user: 'alice', pass: '1234' }) }) // one open challenge

  const cases: Array<[string, string, string, string]> = [
    ['bare Express route (baseline)', bareOrigin, '/bare', 'user=alice&pass=123456'],
    ['check: unknown user', sidecar.url, '/validate/check', 'user=nobody&pass=1234123456'],
    ['check: PIN+wrong OTP (PIN hash, HOTP, failcount write)', sidecar.url, '/validate/check', 'user=alice&pass=1234000000'],
    ['check: PIN inside blocking time (challenge read)', sidecar.url, '/validate/check', 'user=alice&pass=1234'],
    ['check_t: unknown transaction', sidecar.url, '/validate/check_t', 'transactionid=12345678901234567&pass=123456'],
    ['simplecheck: wrong PIN', sidecar.url, '/validate/simplecheck', 'user=alice&pass=9999'],
  ]
  // Warm every path up first (JIT, pools, SQLite page cache), then measure.
  for (const [, origin, path, body] of cases) await load(origin, path, body, 500)
  const results: Array<[string, number]> = []
  for (const [label, origin, path, body] of cases) results.push([label, await load(origin, path, body)])
  const baseline = results[0]?.[1] ?? 1
  console.log(`\n${CONNECTIONS} connections, ${DURATION_MS} ms each, loopback, one process\n`)
  console.log('case'.padEnd(58), 'req/s'.padStart(9), 'ratio'.padStart(7))
  for (const [label, rps] of results) console.log(label.padEnd(58), rps.toFixed(0).padStart(9), (rps / baseline).toFixed(2).padStart(7))
  await sidecar.close()
  bareServer.close()
  await rm(dir, { recursive: true, force: true })
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
