/**
 * Headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core (no
 * browser download). Flags as the machine needs them: no sandbox (root), no background networking
 * (the machine's closed network refuses it), a fresh profile per launch.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'

/** Where Debian installs Chromium; `CHROMIUM_PATH` overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** True when a Chromium binary is there (CI installs it; `.ci/run`). */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM)
}

/** Launches headless Chromium; `close()` also removes its profile directory. */
export async function launchBrowser(): Promise<Browser & { dispose(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'sms-otp-chromium-'))
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  })
  return Object.assign(browser, {
    async dispose(): Promise<void> {
      await browser.close().catch(() => undefined)
      rmSync(profile, { recursive: true, force: true })
    },
  })
}
