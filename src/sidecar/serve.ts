/**
 * Runs the sidecar: SQLite store under the data directory, key file, config file (or the demo),
 * HTTP server, challenge janitor, graceful shutdown on SIGINT/SIGTERM.
 */
import { randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import { Secrets, loadMasterKey } from '../crypto/secrets.js'
import { ConfigError, describeError } from '../errors.js'
import type { Logger } from '../logger.js'
import { createSmsOtp, type SmsOtp } from '../sms-otp.js'
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
  readonly logger?: Logger
  readonly env?: NodeJS.ProcessEnv
}

export interface RunningSidecar {
  readonly otp: SmsOtp
  readonly server: Server
  readonly url: string
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
  const config: SidecarConfig | undefined = options.configFile ? await readConfigFile(options.configFile) : options.demo ? demoConfig(dataDir) : undefined
  const configured = env.SMS_OTP_ADMIN_TOKEN || config?.adminToken
  if (configured !== undefined && configured.length < MIN_ADMIN_TOKEN) throw new ConfigError(`SMS_OTP_ADMIN_TOKEN: at least ${MIN_ADMIN_TOKEN} characters`)
  const secrets = new Secrets(await loadMasterKey(join(dataDir, 'sms-otp.key'), env))
  const store = createSqliteStore({ path: options.db ?? join(dataDir, 'sms-otp.db') })
  const otp = await createSmsOtp({ store, secrets, logger })
  try {
    if (config) {
      const created = await applyConfig(otp, config)
      if (created.length) logger.info({ serials: created }, 'tokens created from config')
    }
  } catch (err) {
    await otp.close()
    throw err
  }
  const adminTokenGenerated = configured === undefined && options.demo === true
  const adminToken = configured ?? (adminTokenGenerated ? randomBytes(18).toString('base64url') : undefined)
  const app = createSidecar({ otp, adminToken, logger })
  const server = app.listen(options.port ?? 5001, options.host ?? '127.0.0.1')
  await new Promise<void>((ok, fail) => {
    server.once('listening', ok)
    server.once('error', fail)
  }).catch(async (err: unknown) => {
    await otp.close()
    throw err
  })
  server.headersTimeout = 15_000
  server.requestTimeout = 30_000
  const address = server.address()
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : ''
  const janitor = setInterval(() => {
    otp.purgeExpired().catch((err: unknown) => logger.warn({ err: describeError(err) }, 'purging challenges failed'))
  }, 60_000)
  janitor.unref()

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(janitor)
      const done = new Promise<void>((ok) => server.close(() => ok()))
      server.closeIdleConnections()
      const force = setTimeout(() => server.closeAllConnections(), 10_000)
      await done
      clearTimeout(force)
      await otp.close()
    })())
  return { otp, server, url, adminToken, adminTokenGenerated, close }
}
