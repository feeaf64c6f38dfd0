/**
 * The `sms-otp` command tree. Each command lives in `commands/<name>.ts` and registers itself
 * here; `sms-otp --help` lists them all, and every command that prints data takes `--json`.
 */
import { Command } from 'commander'
import { registerConfig } from './commands/config.js'
import { registerKey } from './commands/key.js'
import { registerMigrate } from './commands/migrate.js'
import { registerProvider } from './commands/provider.js'
import { registerServe } from './commands/serve.js'
import { registerToken } from './commands/token.js'

/** Builds the program (a fresh one per call, so tests can run commands in-process). */
export function buildProgram(): Command {
  const program = new Command()
  program.name('sms-otp').description('SMS one-time-password second factor, LinOTP-compatible').version('0.1.0')
  registerServe(program)
  registerToken(program)
  registerProvider(program)
  registerConfig(program)
  registerMigrate(program)
  registerKey(program)
  return program
}
