/** `sms-otp config`: not built yet (issue 10). */
import type { Command } from 'commander'

export function registerConfig(program: Command): void {
  void program
}
