#!/usr/bin/env node
/**
 * The `sms-otp` command.
 */
import { Command, InvalidArgumentError } from 'commander'
import { describeError, isOtpError } from '../errors.js'
import { serve } from '../sidecar/serve.js'

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535')
  return n
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
  .option('--config <file>', 'JSON config: realms, providers, policies, config keys, tokens')
  .option('--demo', 'load the demo configuration (outbox provider, user alice with PIN 1234)')
  .action(async (opts: { host: string; port: number; db?: string; dataDir: string; config?: string; demo?: boolean }) => {
    const running = await serve({
      host: opts.host, port: opts.port, dataDir: opts.dataDir, demo: opts.demo === true,
      ...(opts.db === undefined ? {} : { db: opts.db }), ...(opts.config === undefined ? {} : { configFile: opts.config }),
    })
    process.stdout.write(`sms-otp listening on ${running.url}\n`)
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

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`sms-otp: ${isOtpError(err) ? err.message : describeError(err)}\n`)
  process.exit(1)
})
