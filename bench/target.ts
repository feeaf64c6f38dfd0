/**
 * The measured side of `npm run bench`, in its own process: the sidecar over SQLite (the default
 * store, group commit, synchronous=FULL) with 1,000 SMS tokens (`u0`…`u999`, PIN 1234), an
 * HttpSMSProvider to the sink the bench process runs (`BENCH_SINK_URL`), and a bare Express route that parses the same form body
 * (the baseline). Prints one JSON line `{ sidecar, bare }` with both URLs once it is ready.
 *
 * `SMSBlockingTimeout` is 0, so every correct PIN sends an SMS: the trigger case measures the
 * whole slow path (challenge, counter, HOTP, provider call), not the "already submitted" answer.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import { Secrets, createMemoryStore, createSmsOtp, createSqliteStore } from '../src/index.js'
import { silentLogger } from '../src/logger.js'
import { createSidecar } from '../src/sidecar/index.js'

export const USERS = 1000

const listen = (server: Server): Promise<string> =>
  new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)))

// The SMS gateway is somebody else's server: the bench process runs it (BENCH_SINK_URL).
const sinkUrl = process.env.BENCH_SINK_URL
if (!sinkUrl) throw new Error('BENCH_SINK_URL is not set: run `npm run bench`')
const dir = await mkdtemp(join(tmpdir(), 'sms-otp-bench-'))
// BENCH_STORE=memory measures the same requests on the in-process store: the cost of everything
// but the database (what no store tuning can take away).
const store = process.env.BENCH_STORE === 'memory' ? createMemoryStore() : createSqliteStore({ path: join(dir, 'bench.db') })
const otp = await createSmsOtp({ store, secrets: new Secrets(randomBytes(32)) })
await otp.config.set({ SMSBlockingTimeout: '0', DefaultMaxFailCount: '1000000' })
await otp.providers.set({ name: 'gw', className: 'HttpSMSProvider', timeout: 600, config: JSON.stringify({ URL: `${sinkUrl}/send`, RETURN_SUCCESS: 'OK' }) }, true)
for (let i = 0; i < USERS; i++) await otp.tokens.init({ user: `u${i}`, phone: `+4915${String(100_000_000 + i)}`, pin: '1234', serial: `B${i}` })

const bare = express()
bare.post('/bare', express.urlencoded({ extended: false }), (req, res) => {
  res.json({ result: { status: true, value: Object.keys(req.body as object).length > 0 } })
})
const sidecarUrl = await listen(createServer(createSidecar({ otp, logger: silentLogger })))
const bareUrl = await listen(createServer(bare))
process.stdout.write(`${JSON.stringify({ sidecar: sidecarUrl, bare: bareUrl })}\n`)
// A normal exit, so that a CPU profile (BENCH_PROFILE) is written.
process.once('SIGTERM', () => process.exit(0))
