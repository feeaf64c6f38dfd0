/** `sms-otp migrate`: not built yet (issue 10). */
import type { Command } from 'commander'

export function registerMigrate(program: Command): void {
  void program
}
