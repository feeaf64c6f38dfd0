#!/usr/bin/env node
/**
 * The `sms-otp` command.
 */
import { Command, InvalidArgumentError } from 'commander'
import { rotateMasterKey } from '../crypto/rotate.js'
import { describeError, isOtpError } from '../errors.js'
import { serve } from '../sidecar/serve.js'

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535')
  return n
}

function seconds(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new InvalidArgumentError('expected whole seconds from 1 to 3600')
  return n
}

/** Collects a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

const program = new Command()
program.name('sms-otp').description('SMS one-time-password second factor, LinOTP-compatible').version('0.1.0')

program
  .command('serve')
  .description('run the sidecar (LinOTP HTTP API) on an embedded SQLite store')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', port, 5001)
  .option('--db <file>', 'SQLite file (default: <data-dir>/sms-otp.db)')
  .option('--data-dir <dir>', 'directory for the database, key file and outbox', './data')
  .option('--config <file>', 'JSON config: resolvers, realms, providers, policies, config keys, tokens')
  .option('--demo', 'load the demo configuration (outbox provider, user alice with PIN 1234)')
  .option('--admin-port <port>', 'serve /admin and /system on a listener of their own (the main one then answers 404 for them)', port)
  .option('--admin-host <host>', 'address of the admin listener (default 127.0.0.1; needs --admin-port)')
  .option('--admin-timeout <seconds>', 'deadline of every admin request, then 504', seconds, 30)
  .option('--no-get', 'refuse GET requests that carry pass (or admin pin, otpkey, config)')
  .option('--allow-path <dir>', 'let providers set through the admin API use files under DIR (or exactly this file/device); repeatable', collect, [])
  .option('--allow-program <file>', 'let providers set through the admin API run this program (DeviceSMSProvider GNOKII); repeatable', collect, [])
  .option('--allow-host <host>', 'host name, IP or CIDR: admin-set providers may then reach only listed hosts; an address entry also admits link-local/metadata; repeatable', collect, [])
  .option('--allow-private-networks', 'let providers set through the admin API reach loopback and private networks')
  .action(async (opts: { host: string; port: number; db?: string; dataDir: string; config?: string; demo?: boolean; adminPort?: number; adminHost?: string; adminTimeout: number; get: boolean; allowPath: string[]; allowProgram: string[]; allowHost: string[]; allowPrivateNetworks?: boolean }) => {
    const running = await serve({
      host: opts.host, port: opts.port, dataDir: opts.dataDir, demo: opts.demo === true,
      ...(opts.db === undefined ? {} : { db: opts.db }), ...(opts.config === undefined ? {} : { configFile: opts.config }),
      ...(opts.adminPort === undefined ? {} : { adminPort: opts.adminPort }), ...(opts.adminHost === undefined ? {} : { adminHost: opts.adminHost }),
      adminTimeoutMs: opts.adminTimeout * 1000, noGet: !opts.get,
      resources: { allowPaths: opts.allowPath, allowPrograms: opts.allowProgram, allowHosts: opts.allowHost, allowPrivateNetworks: opts.allowPrivateNetworks === true },
    })
    process.stdout.write(`sms-otp listening on ${running.url}\n`)
    if (running.adminUrl) process.stdout.write(`admin API on ${running.adminUrl}\n`)
    if (!running.adminToken) process.stdout.write('admin API disabled (set SMS_OTP_ADMIN_TOKEN to enable it)\n')
    if (running.adminTokenGenerated) process.stdout.write(`admin token (Authorization: Bearer …): ${running.adminToken}\n`)
    if (opts.demo) process.stdout.write(`demo: user alice, PIN 1234; SMS go to this terminal and ${opts.dataDir}/sms-outbox.log\n`)
    const stop = (signal: string): void => {
      process.stdout.write(`${signal}: shutting down\n`)
      running.close().then(() => process.exit(0), () => process.exit(1))
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })

program
  .command('key')
  .description('manage the master key')
  .command('rotate')
  .description('re-encrypt every seed and provider config under a new master key (stop every sidecar process first)')
  .option('--data-dir <dir>', 'directory with the database and the key file', './data')
  .option('--db <file>', 'SQLite file (default: <data-dir>/sms-otp.db)')
  .option('--new-key-file <file>', 'only with SMS_OTP_ENC_KEY: write the new key to this file (mode 0600) for you to move into the variable')
  .action(async (opts: { dataDir: string; db?: string; newKeyFile?: string }) => {
    const report = await rotateMasterKey({ dataDir: opts.dataDir, ...(opts.db === undefined ? {} : { db: opts.db }), ...(opts.newKeyFile === undefined ? {} : { newKeyFile: opts.newKeyFile }) })
    process.stdout.write(`key rotated${report.resumed ? ' (an interrupted rotation was finished)' : ''}: ${report.seeds} seeds and ${report.providers} provider configs re-encrypted; the old key opens nothing in this database any more\n`)
    process.stdout.write(report.fromEnv
      ? `new key in ${report.keyFile}: set SMS_OTP_ENC_KEY to its content, start the sidecar, then delete the file (the old key is refused from now on)\n`
      : `new key in ${report.keyFile}: back it up now; backups of the database taken before this need the old key\n`)
  })

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`sms-otp: ${isOtpError(err) ? err.message : describeError(err)}\n`)
  process.exit(1)
})
