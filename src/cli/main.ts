#!/usr/bin/env node
/**
 * The `sms-otp` command.
 */
import { failureMessage } from './context.js'
import { buildProgram } from './program.js'

buildProgram().parseAsync().catch((err: unknown) => {
  process.stderr.write(`sms-otp: ${failureMessage(err)}\n`)
  process.exit(typeof (err as { exitCode?: unknown }).exitCode === 'number' ? (err as { exitCode: number }).exitCode : 1)
})
