/** `sms-otp token`: not built yet (issue 10). */
import type { Command } from 'commander'

export function registerToken(program: Command): void {
  void program
}
