/** `sms-otp key rotate`: a new master key for the data. */
import type { Command } from 'commander'
import { rotateMasterKey } from '../../crypto/rotate.js'

export function registerKey(program: Command): void {
  program
    .command('key')
    .description('manage the master key')
    .command('rotate')
    .description('re-encrypt every seed and provider config under a new master key (stop every sidecar process first)')
    .option('--data-dir <dir>', 'directory with the database and the key file', './data')
    .option('--db <file>', 'SQLite file (default: <data-dir>/sms-otp.db)')
    .option('--new-key-file <file>', 'only with SMS_OTP_ENC_KEY: write the new key to this file (mode 0600) for you to move into the variable')
    .option('--json', 'print the report as JSON (counts and the new key file; never the key)')
    .action(async (opts: { dataDir: string; db?: string; newKeyFile?: string; json?: boolean }) => {
      const report = await rotateMasterKey({ dataDir: opts.dataDir, ...(opts.db === undefined ? {} : { db: opts.db }), ...(opts.newKeyFile === undefined ? {} : { newKeyFile: opts.newKeyFile }) })
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ rotated: true, resumed: report.resumed, seeds: report.seeds, providers: report.providers, keyFile: report.keyFile, fromEnv: report.fromEnv })}\n`)
        return
      }
      process.stdout.write(`key rotated${report.resumed ? ' (an interrupted rotation was finished)' : ''}: ${report.seeds} seeds and ${report.providers} provider configs re-encrypted; the old key opens nothing in this database any more\n`)
      process.stdout.write(report.fromEnv
        ? `new key in ${report.keyFile}: set SMS_OTP_ENC_KEY to its content, start the sidecar, then delete the file (the old key is refused from now on)\n`
        : `new key in ${report.keyFile}: back it up now; backups of the database taken before this need the old key\n`)
    })
}
