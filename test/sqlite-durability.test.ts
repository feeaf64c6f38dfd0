/**
 * The SQLite store answers nobody before their commit is on disk, though the fsync runs off the
 * event loop (src/stores/wal-sync.ts): a controllable fsync step shows who waits for what.
 */
import assert from 'node:assert/strict'
import { fdatasync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { isOtpError } from '../src/errors.js'
import { createSqliteStore } from '../src/stores/index.js'
import type { SyncFn } from '../src/stores/wal-sync.js'
import { NOW, makeChallenge, makeToken } from './store-contract.js'
import { turn } from './helpers/yielding-store.js'

const tmp = mkdtempSync(join(tmpdir(), 'sms-otp-durability-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
let seq = 0
const dbPath = (): string => join(tmp, `d-${seq++}.db`)

/** An fsync step that waits until the test releases it (or fails it), counting calls. */
function heldSync(): { fn: SyncFn; calls: () => number; release: () => void; fail: (err: Error) => void; pending: () => number } {
  const queue: Array<(err: Error | null) => void> = []
  let calls = 0
  return {
    fn: (fd, done) => {
      calls++
      fdatasync(fd, (err) => (err ? done(err) : queue.push(done)))
    },
    calls: () => calls,
    pending: () => queue.length,
    release: () => queue.shift()?.(null),
    fail: (err) => queue.shift()?.(err),
  }
}

/** Settles-so-far probe of a promise. */
function probe<T>(p: Promise<T>): { settled: () => boolean; result: Promise<T> } {
  let settled = false
  const result = p.finally(() => (settled = true))
  result.catch(() => undefined)
  return { settled: () => settled, result }
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await turn()
  assert.ok(cond(), 'condition never held')
}

describe('sqlite store: answered ⇒ on disk, with the fsync off the event loop', () => {
  it('a write is answered only after its fsync, and a read that saw the commit waits for it too', async () => {
    const sync = heldSync()
    const store = createSqliteStore({ path: dbPath(), syncFn: sync.fn })
    await store.open()
    const write = probe(store.tokens.create(makeToken('D1')))
    await until(() => sync.pending() === 1)
    // Committed (another connection sees it) but not yet synced: nobody is answered.
    const read = probe(store.tokens.get('D1'))
    for (let i = 0; i < 20; i++) await turn()
    assert.equal(write.settled(), false, 'the write waits for its fsync')
    assert.equal(read.settled(), false, 'the read saw the commit and waits for the same fsync')
    sync.release()
    await write.result
    assert.equal((await read.result)?.serial, 'D1')
    await store.close()
  })

  it('commits made during one fsync share the next one', async () => {
    const sync = heldSync()
    const store = createSqliteStore({ path: dbPath(), syncFn: sync.fn })
    await store.open()
    const first = probe(store.tokens.create(makeToken('G0')))
    await until(() => sync.pending() === 1)
    // Five more commits, each in a turn of its own, while the first fsync is held.
    const later: Array<ReturnType<typeof probe>> = []
    for (let i = 1; i <= 5; i++) {
      later.push(probe(store.tokens.create(makeToken(`G${i}`))))
      await turn()
      await turn()
    }
    assert.equal(sync.calls(), 1, 'one fsync at a time')
    sync.release()
    await first.result
    await until(() => sync.pending() === 1)
    assert.equal(sync.calls(), 2, 'the five later commits share one fsync')
    assert.ok(later.every((p) => !p.settled()))
    sync.release()
    await Promise.all(later.map((p) => p.result))
    await store.close()
  })

  it('a failed fsync fails its callers and stops the store until it is opened again', async () => {
    const sync = heldSync()
    const path = dbPath()
    const store = createSqliteStore({ path, syncFn: sync.fn })
    await store.open()
    const first = store.tokens.create(makeToken('F1'))
    await until(() => sync.pending() === 1)
    sync.release()
    await first // F1 is durable
    const pending = store.tokens.create(makeToken('F1b'))
    pending.catch(() => undefined)
    await until(() => sync.pending() === 1)
    sync.fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
    await assert.rejects(pending, (err: unknown) => isOtpError(err, 'ERR_OTP_STORE') && /could not be synced to disk/.test((err as Error).message))
    await assert.rejects(store.tokens.get('F1'), (err: unknown) => isOtpError(err, 'ERR_OTP_STORE'), 'reads fail too: nothing is known about the disk')
    await assert.rejects(store.challenges.create(makeChallenge('1', 'F1')), (err: unknown) => isOtpError(err, 'ERR_OTP_STORE'))
    await store.close()
    const again = createSqliteStore({ path })
    await again.open()
    assert.equal((await again.tokens.get('F1'))?.serial, 'F1')
    await again.close()
  })

  it('the real fsync: data written and answered is there after close, and the database is not in FULL mode on the loop', async () => {
    const path = dbPath()
    let calls = 0
    const store = createSqliteStore({ path, syncFn: (fd, done) => { calls++; fdatasync(fd, done) } })
    await store.open()
    await store.tokens.create(makeToken('R1', { counter: 4 }))
    assert.equal(await store.challenges.issue(makeChallenge('5001', 'R1', { counter: 5 }), 4), true)
    assert.ok(calls >= 1, 'commits were synced by the store')
    await store.close()
    const db = new Database(path, { readonly: true })
    try {
      assert.equal((db.prepare('SELECT counter FROM tokens WHERE serial = ?').get('R1') as { counter: number }).counter, 5)
      assert.equal((db.prepare('SELECT count(*) AS n FROM challenges WHERE transaction_id = ? AND expires_at >= ?').get('5001', NOW) as { n: number }).n, 1)
    } finally {
      db.close()
    }
  })
})
