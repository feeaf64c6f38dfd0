/**
 * `sms-otp migrate`: pending migrations applied with the schema version before and after, an
 * up-to-date database left as it is, a newer database refused unchanged.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { MIGRATIONS, SCHEMA_VERSION, migrate } from '../src/stores/sqlite-migrations.js'
import { cli, tempDirs } from './helpers/cli.js'

const tempDir = tempDirs('cli-migrate')

/** A database at schema `version` (the first `version` migrations applied), with one row to keep. */
function databaseAt(file: string, version: number): void {
  const db = new Database(file)
  migrate(db, MIGRATIONS.slice(0, version))
  db.prepare("INSERT INTO settings (kind, name, value) VALUES ('config', 'keep', 'me')").run()
  db.close()
}

function userVersion(file: string): number {
  const db = new Database(file, { readonly: true })
  try {
    return Number(db.pragma('user_version', { simple: true }))
  } finally {
    db.close()
  }
}

describe('sms-otp migrate', () => {
  it('applies the pending migrations and reports the version before and after; the data stays', async () => {
    assert.ok(SCHEMA_VERSION >= 2, 'the test needs an older version to start from')
    const dir = await tempDir()
    const db = join(dir, 'sms-otp.db')
    databaseAt(db, 1)
    const run = await cli(['migrate', '--data-dir', dir, '--json'])
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(JSON.parse(run.stdout), { db, before: 1, after: SCHEMA_VERSION, latest: SCHEMA_VERSION, applied: SCHEMA_VERSION - 1 })
    assert.equal(userVersion(db), SCHEMA_VERSION)
    const check = new Database(db, { readonly: true })
    assert.equal((check.prepare("SELECT value FROM settings WHERE name = 'keep'").get() as { value: string }).value, 'me')
    check.close()

    const again = await cli(['migrate', '--db', db])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.stdout, `${db}: schema version ${SCHEMA_VERSION}, up to date\n`)
  })

  it('text output names both versions', async () => {
    const dir = await tempDir()
    const db = join(dir, 'old.db')
    databaseAt(db, 1)
    const run = await cli(['migrate', '--db', db])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, new RegExp(`schema version 1 -> ${SCHEMA_VERSION} \\(${SCHEMA_VERSION - 1} migration\\(s\\) applied\\)`))
  })

  it('refuses a database written by a newer sms-otp and leaves it byte for byte', async () => {
    const dir = await tempDir()
    const db = join(dir, 'sms-otp.db')
    databaseAt(db, SCHEMA_VERSION)
    const raw = new Database(db)
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    raw.close()
    const hash = async () => createHash('sha256').update(await readFile(db)).digest('hex')
    const before = await hash()
    const run = await cli(['migrate', '--data-dir', dir])
    assert.equal(run.code, 1)
    assert.match(run.stderr, new RegExp(`schema version ${SCHEMA_VERSION + 1}, written by a newer sms-otp \\(this one knows up to ${SCHEMA_VERSION}\\): upgrade sms-otp; the database was not changed`))
    assert.equal(run.stdout, '')
    assert.equal(await hash(), before)
    assert.equal(userVersion(db), SCHEMA_VERSION + 1)
  })

  it('refuses to create a database that is not there', async () => {
    const dir = await tempDir()
    const run = await cli(['migrate', '--data-dir', dir])
    assert.equal(run.code, 1)
    assert.match(run.stderr, /no database at .*sms-otp\.db: nothing to migrate/)
  })
})
