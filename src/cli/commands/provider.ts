/** `sms-otp provider`: not built yet (issue 10). */
import type { Command } from 'commander'

export function registerProvider(program: Command): void {
  void program
}
