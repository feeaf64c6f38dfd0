/** `sms-otp serve`: the sidecar on the local SQLite store. */
import type { Command } from 'commander'
import { serve } from '../../sidecar/serve.js'
import { collect, port, seconds } from '../args.js'

export function registerServe(program: Command): void {
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
    .option('--metrics', 'serve Prometheus metrics at /metrics where the admin API is, behind the admin token')
    .option('--metrics-port <port>', 'serve Prometheus metrics at /metrics on a listener of its own, without a credential', port)
    .option('--metrics-host <host>', 'address of the metrics listener (default 127.0.0.1; needs --metrics-port)')
    .option('--process-metrics', 'add the default process metrics (CPU, memory, event loop, GC) to /metrics')
    .option('--json', 'print where it listens as one JSON line instead of text')
    .action(async (opts: {
      host: string; port: number; db?: string; dataDir: string; config?: string; demo?: boolean; adminPort?: number; adminHost?: string; adminTimeout: number; get: boolean
      allowPath: string[]; allowProgram: string[]; allowHost: string[]; allowPrivateNetworks?: boolean; metrics?: boolean; metricsPort?: number; metricsHost?: string; processMetrics?: boolean; json?: boolean
    }) => {
      const running = await serve({
        host: opts.host, port: opts.port, dataDir: opts.dataDir, demo: opts.demo === true,
        ...(opts.db === undefined ? {} : { db: opts.db }), ...(opts.config === undefined ? {} : { configFile: opts.config }),
        ...(opts.adminPort === undefined ? {} : { adminPort: opts.adminPort }), ...(opts.adminHost === undefined ? {} : { adminHost: opts.adminHost }),
        adminTimeoutMs: opts.adminTimeout * 1000, noGet: !opts.get,
        resources: { allowPaths: opts.allowPath, allowPrograms: opts.allowProgram, allowHosts: opts.allowHost, allowPrivateNetworks: opts.allowPrivateNetworks === true },
        metrics: opts.metrics === true, processMetrics: opts.processMetrics === true,
        ...(opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort }), ...(opts.metricsHost === undefined ? {} : { metricsHost: opts.metricsHost }),
      })
      if (opts.json) {
        // One line a supervisor or a test can read (a generated demo admin token included, as in text mode).
        const generated = running.adminTokenGenerated ? { adminToken: running.adminToken } : {}
        process.stdout.write(`${JSON.stringify({ listening: running.url, admin: running.adminUrl ?? null, metrics: running.metricsUrl ? `${running.metricsUrl}/metrics` : null, adminApi: running.adminToken !== undefined, ...generated })}\n`)
      } else {
        process.stdout.write(`sms-otp listening on ${running.url}\n`)
        if (running.adminUrl) process.stdout.write(`admin API on ${running.adminUrl}\n`)
        if (running.metricsUrl) process.stdout.write(`metrics on ${running.metricsUrl}/metrics\n`)
        if (!running.adminToken) process.stdout.write('admin API disabled (set SMS_OTP_ADMIN_TOKEN to enable it)\n')
        if (running.adminTokenGenerated) process.stdout.write(`admin token (Authorization: Bearer …): ${running.adminToken}\n`)
        if (opts.demo) process.stdout.write(`demo: user alice, PIN 1234; SMS go to this terminal and ${opts.dataDir}/sms-outbox.log\n`)
      }
      const stop = (signal: string): void => {
        process.stdout.write(`${signal}: shutting down\n`)
        running.close().then(() => process.exit(0), () => process.exit(1))
      }
      process.once('SIGINT', () => stop('SIGINT'))
      process.once('SIGTERM', () => stop('SIGTERM'))
      // SIGHUP: re-read --config (the outcome is logged; a bad file leaves the old config in force).
      process.on('SIGHUP', () => {
        void running.reload().then((r) => process.stdout.write(r.ok ? 'SIGHUP: configuration reloaded\n' : 'SIGHUP: configuration reload refused (see the log)\n'))
      })
    })
}
