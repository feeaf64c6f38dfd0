/**
 * Crash safety of the SQLite store with group commit: the sidecar (its own process, `sms-otp
 * serve`) is killed with SIGKILL in the middle of a load of triggers and answers. After a restart
 * on the same data directory: no OTP that was answered `true` is accepted again, every challenge
 * that was answered "sms submitted" is still stored (and answered after the restart while it is its
 * token's newest), and the database passes
 * `PRAGMA integrity_check`. ("Answered ⇒ durable" is what group commit must keep.)
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js'

const USERS = 40
const phoneOf = (i: number) => `+49151${String(10_000_000 + i)}`

async function post(url: string, params: Record<string, string>): Promise<{ value: boolean | undefined; message: string | undefined; txid: string | undefined; error?: unknown }> {
  const res = await fetch(`${url}/validate/check`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() })
  const body = (await res.json()) as { result?: { value?: boolean }; detail?: { message?: string; transactionid?: string; error?: unknown } }
  return { value: body.result?.value, message: body.detail?.message, txid: body.detail?.transactionid, error: body.detail?.error }
}

describe('crash: SIGKILL under load', { timeout: 120_000 }, () => {
  let dir = ''
  let server: ServeProcess | undefined
  after(async () => {
    await server?.stop().catch(() => undefined)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('loses no answered write: used OTPs stay used, submitted challenges stay answerable, the database is intact', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-crash-'))
    const dataDir = join(dir, 'data')
    const outbox = join(dir, 'outbox.log')
    const config = join(dir, 'config.json')
    await writeFile(config, JSON.stringify({
      realms: [{ name: 'example', default: true }],
      providers: [{ name: 'outbox', class: 'FileSMSProvider', config: { file: outbox, append: true }, timeout: 600, default: true }],
      // The transaction id in the text ties each SMS to its challenge.
      policies: [
        { name: 'text', scope: 'authentication', action: 'smstext=<otp> <transactionid>', realm: '*', user: '*' },
        // A refused answer after the restart says why in the test's failure message.
        { name: 'why', scope: 'authorization', action: 'detail_on_fail', realm: '*', user: '*' },
      ],
      // Stale answers under this load (a newer SMS already sent) count as wrong: no lockout here.
      config: { SMSBlockingTimeout: '0', DefaultMaxFailCount: '1000000' },
      tokens: Array.from({ length: USERS }, (_, i) => ({ serial: `CRASH${i}`, user: `u${i}`, realm: 'example', phone: phoneOf(i), pin: '1234' })),
    }))
    const args = ['--port', '0', '--data-dir', dataDir, '--config', config]
    server = await startServeProcess(args, { cwd: dir, env: { SMS_OTP_ADMIN_TOKEN: '' } })
    const url = server.url

    const otpOf = async (txid: string): Promise<string | undefined> => {
      const text = await readFile(outbox, 'utf8').catch(() => '')
      const line = text.split('\n').find((l) => l.endsWith(` ${txid}`))
      return line?.split(':')[1]?.split(' ')[0]
    }
    // Per user, in the order the answers came back: the newest challenge answered "sms submitted"
    // (an accepted later one removes it, as it should), and every OTP answered `true`.
    let seq = 0
    const latest = new Map<string, { txid: string; otp: string; at: number }>()
    const lastAccepted = new Map<string, number>()
    const uncertain = new Set<string>() // an answer was in flight at the kill: its outcome is unknown
    const accepted: Array<{ user: string; txid: string; otp: string }> = []
    let stop = false
    const worker = async (w: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const user = `u${(w * 7 + n) % USERS}`
        let answering = false
        try {
          const t = await post(url, { user, pass: '1234' })
          if (t.message !== 'sms submitted' || !t.txid) continue
          const otp = await otpOf(t.txid)
          if (!otp) continue
          // Answered "sms submitted": from here on this challenge must survive a crash.
          latest.set(user, { txid: t.txid, otp, at: ++seq })
          if (n % 2 === 0) {
            answering = true
            const r = await post(url, { user, transactionid: t.txid, pass: otp })
            answering = false
            if (r.value === true) {
              lastAccepted.set(user, ++seq)
              accepted.push({ user, txid: t.txid, otp })
            }
          }
        } catch {
          if (answering) uncertain.add(user)
          return // the server is gone
        }
      }
    }
    const workers = Array.from({ length: 8 }, (_, w) => worker(w))
    await new Promise((r) => setTimeout(r, 2500))
    const exited = new Promise((r) => server?.child.once('exit', r))
    server.child.kill('SIGKILL')
    stop = true
    await exited
    await Promise.all(workers)
    assert.ok(accepted.length > 20, `the load got going (${accepted.length} accepted)`)
    const open = [...latest].filter(([user, c]) => !uncertain.has(user) && c.at > (lastAccepted.get(user) ?? 0))
    assert.ok(open.length > 0, 'some challenges were still open at the kill')

    const db = new Database(join(dataDir, 'sms-otp.db'))
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
    // Every challenge answered "sms submitted" is still stored. It stays answerable while it is the
    // token's newest: a trigger in flight at the kill may have committed a later one (whose answer
    // was lost with the connection), and only the newest SMS counts, crash or not.
    const answerable: Array<[string, { txid: string; otp: string }]> = []
    for (const [user, c] of open) {
      const row = db.prepare('SELECT counter FROM challenges WHERE transaction_id = ?').get(c.txid) as { counter: number } | undefined
      assert.ok(row, `the submitted challenge of ${user} is still stored`)
      const token = db.prepare('SELECT counter FROM tokens WHERE user = ?').get(user) as { counter: number }
      if (row.counter === token.counter) answerable.push([user, c])
    }
    db.close()
    assert.ok(answerable.length > 0, 'some submitted challenges are still the newest of their token')

    server = await startServeProcess(args, { cwd: dir, env: { SMS_OTP_ADMIN_TOKEN: '' } })
    for (const a of accepted) {
      assert.equal((await post(server.url, { user: a.user, transactionid: a.txid, pass: a.otp })).value, false, `a used OTP of ${a.user} is refused after the crash`)
    }
    for (const [user, c] of answerable) {
      // Answered after the restart: the challenge (and its counter) outlived the crash.
      const r = await post(server.url, { user, transactionid: c.txid, pass: c.otp })
      assert.equal(r.value, true, `the submitted challenge of ${user} survived: ${JSON.stringify(r.error)}`)
    }
  })
})
