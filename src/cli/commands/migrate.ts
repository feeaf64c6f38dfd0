/**
 * `sms-otp migrate`: brings the SQLite database up to this version's schema (what every start of
 * the store does anyway) and reports the schema version before and after. A database written by
 * a newer sms-otp is refused and left as it is.
 */
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import type { Command } from 'commander'
import { databaseExists } from '../../crypto/key-file.js'
import { isOtpError } from '../../errors.js'
import { SCHEMA_VERSION } from '../../stores/sqlite-migrations.js'
import { createSqliteStore } from '../../stores/sqlite.js'
import { CliError, emit, jsonOption } from '../context.js'

/** `PRAGMA user_version` of `file`, read without changing it. */
function schemaVersion(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return Number(db.pragma('user_version', { simple: true }))
  } finally {
    db.close()
  }
}

export function registerMigrate(program: Command): void {
  jsonOption(program.command('migrate'))
    .description('apply pending database migrations and report the schema version (a database of a newer sms-otp is refused)')
    .option('--data-dir <dir>', 'directory with the database', './data')
    .option('--db <file>', 'SQLite file (default: <data-dir>/sms-otp.db)')
    .action(async (opts: { dataDir: string; db?: string; json?: boolean }) => {
      const db = resolve(opts.db ?? join(opts.dataDir, 'sms-otp.db'))
      if (!(await databaseExists(db))) throw new CliError(`no database at ${db}: nothing to migrate (\`sms-otp serve\` creates it), or pass --db / --data-dir`)
      const before = schemaVersion(db)
      if (before > SCHEMA_VERSION) {
        throw new CliError(`${db} has schema version ${before}, written by a newer sms-otp (this one knows up to ${SCHEMA_VERSION}): upgrade sms-otp; the database was not changed`)
      }
      const store = createSqliteStore({ path: db })
      try {
        await store.open()
      } catch (err) {
        if (isOtpError(err)) throw new CliError(`${db}: ${err.message}`)
        throw err
      } finally {
        await store.close().catch(() => undefined)
      }
      const after = schemaVersion(db)
      const data = { db, before, after, latest: SCHEMA_VERSION, applied: after - before }
      emit(opts, data, () => (after === before ? `${db}: schema version ${after}, up to date` : `${db}: schema version ${before} -> ${after} (${after - before} migration(s) applied)`))
    })
}
