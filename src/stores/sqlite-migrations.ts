/**
 * Versioned schema of the SQLite store. `PRAGMA user_version` records the last applied migration;
 * each migration runs in its own IMMEDIATE transaction (SQLite DDL and the user_version header
 * write are transactional), so a crash leaves the database at a whole version, and two processes
 * opening a fresh file at once apply each migration once.
 *
 * Append only: never edit a released migration, add a new one with the next version.
 */
import type Database from 'better-sqlite3'
import { OtpError } from '../errors.js'

export interface Migration {
  /** 1, 2, 3, ... without gaps. */
  readonly version: number
  readonly up: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    // STRICT tables: SQLite refuses a value of the wrong type instead of storing it silently.
    up: `
      CREATE TABLE tokens (
        serial        TEXT    NOT NULL PRIMARY KEY,
        type          TEXT    NOT NULL CHECK (type = 'sms'),
        "user"        TEXT,
        realm         TEXT,
        phone         TEXT    NOT NULL,
        pin_hash      TEXT,
        seed          TEXT    NOT NULL,
        hashlib       TEXT    NOT NULL CHECK (hashlib IN ('sha1', 'sha256', 'sha512')),
        otplen        INTEGER NOT NULL CHECK (otplen IN (6, 8)),
        counter       INTEGER NOT NULL,
        failcount     INTEGER NOT NULL,
        maxfail       INTEGER NOT NULL,
        count_window  INTEGER NOT NULL,
        active        INTEGER NOT NULL CHECK (active IN (0, 1)),
        description   TEXT    NOT NULL,
        created_at    INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX tokens_user_realm ON tokens ("user", realm);

      CREATE TABLE challenges (
        transaction_id TEXT    NOT NULL PRIMARY KEY,
        serial         TEXT    NOT NULL,
        counter        INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        provider       TEXT    NOT NULL
      ) STRICT;
      CREATE INDEX challenges_serial ON challenges (serial);
      CREATE INDEX challenges_expires_at ON challenges (expires_at);

      CREATE TABLE settings (
        kind  TEXT NOT NULL CHECK (kind IN ('config', 'provider', 'policy', 'realm')),
        name  TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, name)
      ) STRICT;
    `,
  },
  {
    version: 2,
    // Settings kind 'resolver' (user resolver definitions). SQLite cannot change a CHECK
    // constraint in place: the table is copied into one with the wider constraint.
    up: `
      CREATE TABLE settings_v2 (
        kind  TEXT NOT NULL CHECK (kind IN ('config', 'provider', 'policy', 'realm', 'resolver')),
        name  TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, name)
      ) STRICT;
      INSERT INTO settings_v2 (kind, name, value) SELECT kind, name, value FROM settings;
      DROP TABLE settings;
      ALTER TABLE settings_v2 RENAME TO settings;
    `,
  },
]

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0

const userVersion = (db: Database.Database): number => db.pragma('user_version', { simple: true }) as number

/**
 * Brings `db` up to {@link SCHEMA_VERSION}. Refuses a database written by a newer sms-otp: running
 * old code on a newer schema could silently drop what the new code relies on.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new OtpError('ERR_OTP_STORE', `sqlite migrations are out of order at version ${m.version}`, { status: 500 })
  })
  const latest = migrations.length
  const found = userVersion(db)
  if (found > latest) {
    throw new OtpError('ERR_OTP_STORE', `sqlite database has schema version ${found}, newer than the ${latest} this sms-otp knows: upgrade sms-otp`, { status: 500 })
  }
  for (const m of migrations) {
    if (m.version <= found) continue
    db.transaction(() => {
      if (userVersion(db) >= m.version) return // another process got there first
      db.exec(m.up)
      db.pragma(`user_version = ${m.version}`) // an integer we own, not input
    }).immediate()
  }
}
