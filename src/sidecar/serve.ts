/**
 * Runs the sidecar: SQLite store under the data directory, key file, config file (or the demo),
 * HTTP server, challenge janitor, graceful shutdown on SIGINT/SIGTERM.
 */
import { randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import { checkDataDir, databaseExists } from '../crypto/key-file.js'
import { finishInterruptedRotation } from '../crypto/rotate.js'
import { RUN_DIR, acquireRunLock } from '../crypto/run-lock.js'
import { Secrets, loadMasterKey } from '../crypto/secrets.js'
import { ConfigError, describeError } from '../errors.js'
import type { Logger } from '../logger.js'
import { createSmsOtp, type SmsOtp } from '../sms-otp.js'
import { assertAllowPathsAvoid, resourcePolicy, type ResourceOptions } from '../providers/resources.js'
import { createSqliteStore } from '../stores/sqlite.js'
import { MIN_ADMIN_TOKEN } from '../../middleware/admin.js'
import { createSidecar } from './app.js'
import { applyConfig, readConfigFile, type SidecarConfig } from './config-file.js'
import { demoConfig } from './demo.js'

export interface ServeOptions {
  /** @default '127.0.0.1' */
  readonly host?: string
  /** @default 5001 */
  readonly port?: number
  /** SQLite file. @default `<dataDir>/sms-otp.db` */
  readonly db?: string
  /** @default './data' */
  readonly dataDir?: string
  readonly configFile?: string
  /** Load the demo configuration. */
  readonly demo?: boolean
  /** Serve `/admin` and `/system` on a listener of their own at this port; the main listener then answers 404 for them. */
  readonly adminPort?: number
  /** Address of the admin listener (needs `adminPort`). @default '127.0.0.1' */
  readonly adminHost?: string
  /** Refuse GET requests carrying `pass` (and admin `pin`, `otpkey`, `config`). @default false */
  readonly noGet?: boolean
  /** Deadline of every admin request in ms (then 504 `ERR_OTP_TIMEOUT`). @default 30_000 */
  readonly adminTimeoutMs?: number
  readonly logger?: Logger
  readonly env?: NodeJS.ProcessEnv
  /** The account that must own the data directory (refused otherwise). @default process.getuid(); unchecked where that is undefined */
  readonly serviceUid?: number
  /** What providers set through the admin API may use (`--allow-path`, `--allow-program`, `--allow-host`). @default {} */
  readonly resources?: ResourceOptions
}

export interface RunningSidecar {
  readonly otp: SmsOtp
  readonly server: Server
  readonly url: string
  /** The admin listener (with `adminPort`), else undefined. */
  readonly adminServer: Server | undefined
  readonly adminUrl: string | undefined
  readonly adminToken: string | undefined
  /** True when the admin token was generated for this run (demo) and should be shown once. */
  readonly adminTokenGenerated: boolean
  close(): Promise<void>
}

/** Starts the sidecar and resolves once it listens. */
export async function serve(options: ServeOptions = {}): Promise<RunningSidecar> {
  const env = options.env ?? process.env
  const logger: Logger = options.logger ?? pino({ name: 'sms-otp', level: env.LOG_LEVEL ?? 'info' })
  const dataDir = resolve(options.dataDir ?? './data')
  const config: SidecarConfig | undefined = options.configFile ? await readConfigFile(options.configFile, options.resources) : options.demo ? demoConfig(dataDir) : undefined
  const configured = env.SMS_OTP_ADMIN_TOKEN || config?.adminToken
  if (configured !== undefined && configured.length < MIN_ADMIN_TOKEN) throw new ConfigError(`SMS_OTP_ADMIN_TOKEN: at least ${MIN_ADMIN_TOKEN} characters`)
  if (options.adminHost !== undefined && options.adminPort === undefined) throw new ConfigError('--admin-host (adminHost) needs --admin-port (adminPort)')
  if (options.adminPort !== undefined && configured === undefined && options.demo !== true) {
    throw new ConfigError('--admin-port (adminPort): no admin token is configured (set SMS_OTP_ADMIN_TOKEN)')
  }
  const db = options.db ?? join(dataDir, 'sms-otp.db')
  // An allowed path must not hold our own files: an admin-defined FileSMSProvider could overwrite
  // the key or the database (docs/providers.md "The allow-lists").
  const keyFile = join(dataDir, 'sms-otp.key')
  assertAllowPathsAvoid(resourcePolicy(options.resources), [
    { path: dataDir, what: 'the data directory' },
    ...[keyFile, `${keyFile}.new`].map((path) => ({ path, what: 'the key file' })),
    ...['', '-wal', '-shm', '-journal'].map((suffix) => ({ path: `${db}${suffix}`, what: 'the database' })),
    ...(options.configFile === undefined ? [] : [{ path: options.configFile, what: 'the config file' }]),
    { path: join(dataDir, RUN_DIR), what: 'the run lock directory' },
  ], join(dataDir, 'outbox'))
  // Before anything is written: the directory's owner and mode, a rotation left unfinished, and
  // never a new key for an existing database (it could not read the data; docs/operations.md).
  await checkDataDir(dataDir, options.serviceUid)
  // Held until close: `key rotate` refuses while a sidecar uses the directory (docs/operations.md).
  const lock = await acquireRunLock(dataDir, 'serve')
  let otp: SmsOtp
  try {
    await finishInterruptedRotation({ dataDir, db, env, serviceUid: options.serviceUid, sidecarLock: lock }, logger)
    const secrets = new Secrets(await loadMasterKey(join(dataDir, 'sms-otp.key'), env, { create: !(await databaseExists(db)) }))
    otp = await createSmsOtp({ store: createSqliteStore({ path: db }), secrets, logger, ...(options.resources && { resources: options.resources }) })
  } catch (err) {
    await lock.release()
    throw err
  }
  try {
    if (config) {
      const created = await applyConfig(otp, config)
      if (created.length) logger.info({ serials: created }, 'tokens created from config')
    }
  } catch (err) {
    await otp.close()
    await lock.release()
    throw err
  }
  const adminTokenGenerated = configured === undefined && options.demo === true
  const adminToken = configured ?? (adminTokenGenerated ? randomBytes(18).toString('base64url') : undefined)
  const separate = options.adminPort !== undefined
  const shared = { otp, adminToken, logger, noGet: options.noGet, adminTimeoutMs: options.adminTimeoutMs }
  const servers: Server[] = []
  let server: Server
  let adminServer: Server | undefined
  try {
    server = await listen(createSidecar({ ...shared, api: separate ? 'validate' : 'all' }), options.port ?? 5001, options.host ?? '127.0.0.1', servers)
    if (options.adminPort !== undefined) adminServer = await listen(createSidecar({ ...shared, api: 'admin' }), options.adminPort, options.adminHost ?? '127.0.0.1', servers)
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))))
    await otp.close()
    await lock.release()
    throw err
  }
  const url = urlOf(server)
  const janitor = setInterval(() => {
    otp.purgeExpired().catch((err: unknown) => logger.warn({ err: describeError(err) }, 'purging challenges failed'))
  }, 60_000)
  janitor.unref()

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(janitor)
      const done = Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))))
      for (const s of servers) s.closeIdleConnections()
      const force = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), 10_000)
      await done
      clearTimeout(force)
      await otp.close().finally(() => lock.release()) // only once the engine can write nothing more
    })())
  return { otp, server, url, adminServer, adminUrl: adminServer && urlOf(adminServer), adminToken, adminTokenGenerated, close }
}

/** Listens and resolves once listening; the server is added to `servers` first so a failure can close it. */
async function listen(app: ReturnType<typeof createSidecar>, port: number, host: string, servers: Server[]): Promise<Server> {
  const server = app.listen(port, host)
  servers.push(server)
  await new Promise<void>((ok, fail) => {
    server.once('listening', ok)
    server.once('error', fail)
  })
  server.headersTimeout = 15_000
  server.requestTimeout = 30_000
  return server
}

function urlOf(server: Server): string {
  const address = server.address()
  return typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : ''
}
