/**
 * Runs the sidecar: SQLite store under the data directory, key file, config file (or the demo),
 * HTTP server, challenge janitor, optional Prometheus metrics, config reload, graceful shutdown.
 */
import { randomBytes } from 'node:crypto'
import type { Server, ServerResponse } from 'node:http'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import { checkDataDir, databaseExists } from '../crypto/key-file.js'
import { finishInterruptedRotation } from '../crypto/rotate.js'
import { RUN_DIR, acquireRunLock } from '../crypto/run-lock.js'
import { Secrets, loadMasterKey } from '../crypto/secrets.js'
import { ConfigError, describeError } from '../errors.js'
import type { Logger } from '../logger.js'
import { createMetrics } from '../metrics/index.js'
import { createSmsOtp, type SmsOtp } from '../sms-otp.js'
import { assertAllowPathsAvoid, resourcePolicy, type ResourceOptions } from '../providers/resources.js'
import { createSqliteStore } from '../stores/sqlite.js'
import { MIN_ADMIN_TOKEN } from '../../middleware/admin.js'
import { createMetricsApp, createSidecar } from './app.js'
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
  /**
   * Serve Prometheus metrics at `/metrics` where the admin API is (the admin listener with
   * `adminPort`, else the main one), behind the admin token (`--metrics`). @default false
   */
  readonly metrics?: boolean
  /** Serve `/metrics` without a credential on a listener of its own at this port (`--metrics-port`). */
  readonly metricsPort?: number
  /** Address of the metrics listener (needs `metricsPort`). @default '127.0.0.1' */
  readonly metricsHost?: string
  /** Add prom-client's default process metrics (CPU, memory, event loop, GC) (`--process-metrics`). @default false */
  readonly processMetrics?: boolean
  /** How long a shutdown waits for running requests before it closes their connections, in ms. @default 10_000 */
  readonly drainMs?: number
}

/** What {@link RunningSidecar.reload} came to. */
export interface ReloadResult {
  /** True when the file was valid and applied. */
  readonly ok: boolean
  /** Why the reload was refused (names the file and the setting, never a secret). */
  readonly error?: string
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
  /** The metrics listener (with `metricsPort`), else undefined. */
  readonly metricsServer: Server | undefined
  readonly metricsUrl: string | undefined
  /**
   * Re-reads the config file (`configFile`), validates all of it and applies it (what SIGHUP does).
   * A file that fails validation changes nothing: the old configuration stays in force and the
   * reason is logged and returned. Never rejects. Reloads run one after another.
   */
  reload(): Promise<ReloadResult>
  /**
   * Graceful shutdown: stops accepting connections, lets running requests finish (at most
   * `drainMs`), then closes the providers, the store and the run lock. Idempotent.
   */
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
  if (options.metrics === true && configured === undefined && options.demo !== true) {
    throw new ConfigError('--metrics (metrics): served behind the admin token, and none is configured (set SMS_OTP_ADMIN_TOKEN, or use --metrics-port)')
  }
  if (options.metricsHost !== undefined && options.metricsPort === undefined) throw new ConfigError('--metrics-host (metricsHost) needs --metrics-port (metricsPort)')
  const metrics = options.metrics === true || options.metricsPort !== undefined ? createMetrics({ defaultMetrics: options.processMetrics === true }) : undefined
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
    otp = await createSmsOtp({ store: createSqliteStore({ path: db }), secrets, logger, ...(options.resources && { resources: options.resources }), ...(metrics && { metrics }) })
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
  const shared = { otp, adminToken, logger, noGet: options.noGet, adminTimeoutMs: options.adminTimeoutMs, metrics: options.metrics === true }
  const servers: Server[] = []
  // Answers under way, so a shutdown can tell their keep-alive connections to close after them.
  const drain: Drain = { closing: false, responses: new Set() }
  let server: Server
  let adminServer: Server | undefined
  let metricsServer: Server | undefined
  try {
    server = await listen(createSidecar({ ...shared, api: separate ? 'validate' : 'all' }), options.port ?? 5001, options.host ?? '127.0.0.1', servers, drain)
    if (options.adminPort !== undefined) adminServer = await listen(createSidecar({ ...shared, api: 'admin' }), options.adminPort, options.adminHost ?? '127.0.0.1', servers, drain)
    if (options.metricsPort !== undefined) metricsServer = await listen(createMetricsApp(otp, logger), options.metricsPort, options.metricsHost ?? '127.0.0.1', servers, drain)
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
  // Reloads run one after another; a shutdown waits for the one under way (it writes to the store).
  let reloading: Promise<ReloadResult> = Promise.resolve({ ok: true })
  const reload = (): Promise<ReloadResult> =>
    (reloading = reloading.then(async (): Promise<ReloadResult> => {
      if (closing) return { ok: false, error: 'shutting down' }
      if (options.configFile === undefined) {
        logger.warn({}, 'config reload: no config file to reload (start with --config FILE)')
        return { ok: false, error: 'no config file to reload (start with --config FILE)' }
      }
      const file = options.configFile
      let next: SidecarConfig
      try {
        next = await readConfigFile(file, options.resources)
      } catch (err) {
        const error = describeError(err)
        logger.error({ file, err: error }, 'config reload refused: the old configuration stays in force')
        return { ok: false, error }
      }
      if ((env.SMS_OTP_ADMIN_TOKEN || next.adminToken) !== configured) logger.warn({ file }, 'config reload: the admin token changed; it takes effect at the next start')
      try {
        const created = await applyConfig(otp, next)
        logger.info({ file, serials: created }, 'config reloaded')
        return { ok: true }
      } catch (err) {
        // Valid, but refused while being written (see docs/operations.md "Reloading the
        // configuration"): what was written before the failure stays.
        const error = describeError(err)
        logger.error({ file, err: error }, 'config reload failed while applying: the settings before the failing one were applied')
        return { ok: false, error }
      }
    }))
  const drainMs = options.drainMs ?? 10_000
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(janitor)
      // Stop accepting; running requests finish and their connections close after the answer
      // (`Connection: close`); idle keep-alive connections close now.
      drain.closing = true
      for (const res of drain.responses) if (!res.headersSent) res.setHeader('Connection', 'close')
      const done = Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))))
      for (const s of servers) s.closeIdleConnections()
      const force = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), drainMs)
      await done
      clearTimeout(force)
      await reloading
      await otp.close().finally(() => lock.release()) // only once the engine can write nothing more
    })())
  return {
    otp, server, url, adminServer, adminUrl: adminServer && urlOf(adminServer), adminToken, adminTokenGenerated,
    metricsServer, metricsUrl: metricsServer && urlOf(metricsServer), reload, close,
  }
}

/** The answers under way on every listener, and whether a shutdown began. */
interface Drain {
  closing: boolean
  readonly responses: Set<ServerResponse>
}

/** Listens and resolves once listening; the server is added to `servers` first so a failure can close it. */
async function listen(app: ReturnType<typeof createSidecar>, port: number, host: string, servers: Server[], drain: Drain): Promise<Server> {
  const server = app.listen(port, host)
  servers.push(server)
  server.prependListener('request', (_req, res: ServerResponse) => {
    // A request that still arrives on an open keep-alive connection during shutdown is answered, then its connection closes.
    if (drain.closing) res.setHeader('Connection', 'close')
    drain.responses.add(res)
    res.once('close', () => drain.responses.delete(res))
  })
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
